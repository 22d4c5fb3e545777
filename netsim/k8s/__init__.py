"""Kubernetes objects as netsim reads them from verbatim manifests."""

from netsim.k8s.objects import ContainerPort, Deployment, Service, ServicePort, ServiceType, TrafficPolicy

__all__ = ["ContainerPort", "Deployment", "Service", "ServicePort", "ServiceType", "TrafficPolicy"]
