"""The repository's shape: the four modules of the card at the top, helpers in folders that
name their role, short files, no import circles, NumPy models without torch."""
import ast
import os
import subprocess
import sys

from helpers import ROOT

PACKAGES = ("baselines", "maps", "run_folder", "serket", "settings")


def project_files():
    """Every .py file of the project (top level, its packages, bench, config, tests)."""
    for folder in ("",) + PACKAGES + ("bench", "config", "tests"):
        path = os.path.join(ROOT, folder)
        yield from (os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith(".py"))


def test_top_level_is_the_cards_shape():
    top = {f for f in os.listdir(ROOT) if not f.startswith(".")}
    assert {f for f in top if f.endswith(".py")} == {"main.py", "vae_module.py", "gmm_module.py", "tool.py"}
    assert {"image", "README.md", "requirements.txt", "LICENSE"} <= top
    folders = {f for f in top if os.path.isdir(os.path.join(ROOT, f))}
    assert folders <= {"image", "docs", "bench", "tests", "config", "model", "data", *PACKAGES}, folders


def test_no_file_over_400_lines():
    long = {os.path.relpath(p, ROOT): n for p in project_files() if (n := len(open(p).readlines())) > 400}
    assert not long, long


def imports_of(path):
    """Project modules a file imports (absolute imports only; the project uses no others)."""
    names = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_no_import_circles():
    modules = {}
    for path in project_files():
        rel = os.path.relpath(path, ROOT)
        if rel.startswith(("bench", "config", "tests")):
            continue
        modules[rel[:-3].replace(os.sep, ".").removesuffix(".__init__")] = path
    graph = {m: {i for i in imports_of(p) if i in modules and i != m} for m, p in modules.items()}
    state = {}

    def visit(m, stack):
        state[m] = "open"
        for n in graph[m]:
            assert state.get(n) != "open", " -> ".join(stack + [m, n])
            if n not in state:
                visit(n, stack + [m])
        state[m] = "done"
    for m in graph:
        if m not in state:
            visit(m, [])


def test_numpy_models_import_neither_torch_nor_matplotlib():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import gmm_module, maps.start, serket.mlda, "
            "serket.markov; assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules, 'torch or matplotlib'")
    proc = subprocess.run([sys.executable, "-c", code, ROOT], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_main_keeps_its_python_entry_points():
    import main
    import tool
    assert callable(main.train_model) and main.decode_from_gmm_param is tool.decode_from_gmm_param
    assert len(main.SETTINGS) <= 31, len(main.SETTINGS)
