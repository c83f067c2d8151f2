"""Every entry point lives in ``lyricseg.commands``; the library holds no ``main()``."""

import ast
import subprocess
import sys

from support import REPO

PACKAGE = REPO / "src" / "lyricseg"


def _library_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] != "commands" and rel.name != "__main__.py":
            yield rel, ast.parse(path.read_text(encoding="utf-8"))


def test_library_modules_define_no_main_and_register_no_resolver():
    offenders = []
    for rel, tree in _library_modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in ("main", "parse_args"):
                offenders.append(f"{rel}: def {node.name}")
            if isinstance(node, ast.Attribute) and node.attr == "register_new_resolver":
                offenders.append(f"{rel}: registers a resolver")
            if isinstance(node, ast.Compare) and "__main__" in ast.unparse(node):
                offenders.append(f"{rel}: if __name__ == '__main__'")
    assert offenders == []


def test_python_m_forwarders_are_three_statements():
    for path in sorted(PACKAGE.rglob("__main__.py")):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        assert len(body) <= 4, path  # docstring, imports, the call
        assert any("lyricseg.commands" in ast.unparse(node) for node in body), path


def test_importing_the_training_task_registers_no_resolver():
    code = (
        "import lyricseg.training.task; from omegaconf import OmegaConf;"
        "print(OmegaConf.has_resolver('lyricseg.resume_dir'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
