"""The Python example of the workspace README runs as written (against its own Simulator)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README.md has no python example"
    exec(compile(blocks[0], str(README), "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "bytearray(b'b\\xf1\\x90WDOIPRS0000000001')"
    assert out[1].startswith("b'P\\x03")
    assert out[2].count("b'~\\x00'") == 3
