"""Every notebook executes (nbclient, kernel python3), with its parameters cell shortened, so none can rot."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SHORT = {
    "analysis.ipynb": 'RESULTS = "{tmp}/quickstart"\nEXPERIMENT = "../experiments/quickstart.yaml"\nDURATION = "3s"\n',
    "service-types.ipynb": 'DURATION = "3s"\nREPLICATIONS = 2\nOUTPUT = "{tmp}/service-types"\n',
}


def test_every_notebook_is_covered() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(SHORT)


@pytest.mark.parametrize("name", sorted(SHORT))
def test_notebook_is_stored_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: clear outputs before committing"


@pytest.mark.parametrize("name", sorted(SHORT))
def test_notebook_executes(name: str, tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    parameters = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1, "one cell tagged 'parameters' holds what the test shortens"
    parameters[0].source = SHORT[name].format(tmp=tmp_path)
    client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2
    if name == "service-types.ipynb":
        assert (tmp_path / "service-types" / "report.html").is_file()
