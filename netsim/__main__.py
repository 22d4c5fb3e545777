from netsim.cli import entry

entry()
