"""`python -m spm_cli ...` is the same as `spm ...`."""

from spm_cli.main import app

app(prog_name="spm")
