"""The README's "The loop" and "Everyday data use" blocks, run as written, in order.

The commands are parsed from README.md itself, so the README and this test cannot drift. They run
from a temporary folder outside the repository, with no ``$DRXLAB_DB``, as a new user would.
Only what a user brings is replaced:

* the user's files (``cell1.csv``, ``cell3.csv``, ``data/drx-td/``) by generated fixtures: raw
  cycler exports of the virtual lab's first discharge of the sample's composition (charged to
  4.8 V, discharge starting after an IR drop), DRX-TD JSON files; ``cell7.mpr`` by a real EC-Lab
  file of a cathode cell from ../shared/cycler-files;
* ``../shared/…`` by the absolute path of ../shared beside the repository;
* ``model pull``'s download by a 127.0.0.1 server of ../shared/drxnet-upstream/pretrained
  (``--base-url``).

Heavy commands run with reduced sizes, the README keeping the documented ones: ``train`` and
``evaluate`` with 1 epoch, 2 members, the small network; ``simulate`` on a 1-round, 1-seed,
2-strategy campaign over a small space; ``bench`` with 64 compositions, a 500-candidate space and
1 epoch; the fine-tunes of the released ensemble (``log --finetune``, ``finetune``) with 2 epochs
(at their defaults, 20 and 8, they were most of this test's time; what they learn is tested in
tests/workflow/test_first_cycle_finetune.py). ``suggest`` screens the whole he-drx space (54,297
candidates) as written.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shlex
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from drxlab.cli.main import cli
from tests.conftest import SHARED, require_shared
from tests.factories import campaign_toml, write_drx_td
from tests.raw_cells import oracle_cycle1, write_raw_cell

README = Path(__file__).resolve().parents[1] / "README.md"
CATHODE_MPR = "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
SMALL_SPACE = campaign_toml(
    "sim-small", {"Mn3+": 0.4, "Ti4+": 0.4, "Nb5+": 0.2, "Cr3+": 0.2}, metals=(2, 3), batch=2
)

# what each command must print (stdout) when it works as documented
EXPECT = [
    ("model pull", r"registered model version 1 \(.*5 members, released\)"),
    ("model import-drxnet", r"already registered as model version 1"),
    ("predict", r"Li1.2Cr0.3Mg0.1Mn0.1Nb0.1Ti0.2O1.8F0.2 +\d+\.\d +\d+\.\d .* in-domain"),
    ("candidates", r"^54297$"),
    ("suggest", r"round 1: 8 of 54297 candidates by ucb"),
    ("log --sample 1", r"sample 1 \(.*\) tested: measured \d+\.\d mAh/g .*\n.*fine-tuned → model version 2"),
    ("log --sample 2", r"sample 2 \(.*\) marked failed"),
    ("log --sample 3", r"sample 3 \(.*\) tested: measured \d+\.\d mAh/g"),
    ("finetune", r"fine-tuned → model version 3 \(parent 2\)"),
    ("status", r"samples: proposed 5, synthesized 0, tested 2, failed 1"),
    ("report", r""),
    ("bench predict", r"bench predict: current model version 3"),
    ("bench suggest", r"bench suggest: current model version 3"),
    ("bench finetune", r"bench finetune: current model version 3"),
    ("lab seed", r"seeded 60 compositions"),
    ("lab measure", r"virtual test \d+ \(synthetic\): 20 mA/g, 1.5–4.8 V"),
    ("train", r"model version 1 .* validation \d+\.\d mAh/g .*\n.*now current for the lab"),
    ("evaluate", r"trained on 2TM \(\d+ tests\), tested on 3TM"),
    ("simulate", r"syntheses to top 1 %"),
    ("init", r"store ready: /.*/db/drxlab.sqlite"),
    ("inspect", r"format: biologic-mpr .*discharge cycles counted: [1-9]"),
    ("import ", r"imported \d+ file\(s\): \d+ test\(s\)"),
    ("materials", r"virtual tests"),
    ("tests", r"^\["),
    ("export", r""),
]


def readme_commands(section: str) -> list[list[str]]:
    """The commands of the first ```bash block under ``## {section}``, split on ' ; ', comments dropped."""
    text = README.read_text()
    body = text[text.index(f"## {section}\n") :]
    block = body[body.index("```bash\n") + 8 :]
    block = block[: block.index("```")]
    out = []
    for line in block.splitlines():
        line = line.split("  #")[0].strip()
        if not line or line.startswith("#"):
            continue
        for part in line.split(" ; "):
            argv = shlex.split(part)
            assert argv[0] == "drxlab", part
            out.append(argv[1:])
    return out


def _serve(directory: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}", srv


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def _set(argv: list[str], name: str, value: str) -> list[str]:
    if name in argv:
        argv = list(argv)
        argv[argv.index(name) + 1] = value
        return argv
    return [*argv, name, value]


class Lab:
    """Runs README commands in a folder, supplying the user's files on demand."""

    def __init__(self, folder: Path, base_url: str) -> None:
        self.folder, self.base_url = folder, base_url
        self.runner = CliRunner()

    def run(self, argv: list[str]):  # -> click.testing.Result
        return self.runner.invoke(cli, argv, catch_exceptions=False)

    def _formula_of(self, sample: str) -> str:
        st = json.loads(self.run(["status", "--json"]).stdout)
        return next(w["formula"] for w in st["waiting"] if str(w["sample_id"]) == sample)

    def prepare(self, argv: list[str]) -> list[str]:
        """The command as a user with these files would run it (see the module docstring)."""
        argv = [str(SHARED / a[len("../shared/") :]) if a.startswith("../shared/") else a for a in argv]
        cmd = " ".join(argv[:2])
        if cmd == "model pull":
            argv = [*argv, "--base-url", self.base_url]
        for a in argv:
            if re.fullmatch(r"cell\d+\.csv", a) and not Path(a).exists():
                formula = _option(argv, "--composition") or self._formula_of(_option(argv, "--sample"))
                v, q = oracle_cycle1(formula)
                write_raw_cell(self.folder / a, v, q, mass_g=float(_option(argv, "--active-mass")))
            if re.fullmatch(r"cell\d+\.mpr", a) and not Path(a).exists():
                # a real EC-Lab file of a cathode cell (2.0–3.8 V, GPL test data read from ../shared)
                real = require_shared(SHARED / "cycler-files" / "biologic-mpr" / CATHODE_MPR)
                (self.folder / a).write_bytes(real.read_bytes())
            if a == "data/drx-td/" and not Path(a).exists():
                Path(a).mkdir(parents=True)
                for k, formula in enumerate(
                    (
                        {"Li": 1.2, "Mn": 0.6, "Ti": 0.2, "O": 2.0},
                        {"Li": 1.1, "Mn": 0.5, "Nb": 0.4, "O": 1.9, "F": 0.1},
                        {"Li": 1.2, "Cr": 0.2, "Mn": 0.4, "Ti": 0.2, "O": 2.0},
                    )
                ):
                    write_drx_td(Path(a) / f"test{k}.json", composition=formula, cap=230.0 + 10 * k)
        small = ["--members", "2", "--size", "small"]
        if "train" in argv or "evaluate" in argv:
            argv = [*_set(argv, "--epochs", "1"), *small]
        elif "simulate" in argv:
            spec = self.folder / "sim-small.toml"
            spec.write_text(SMALL_SPACE)
            argv = _set(
                _set(_set(_set(argv, "--campaign", str(spec)), "--rounds", "1"), "--seeds", "1"),
                "--strategies",
                "ucb,random",
            )
            argv = [*_set(argv, "--batch", "2"), "--n-start", "6", "--start-epochs", "1", "--out", "sim"]
        elif cmd == "bench predict":
            argv = [*argv, "--n", "64"]
        elif cmd == "bench suggest":
            argv = [*argv, "--size", "500"]
        elif cmd == "bench finetune":
            argv = [*argv, "--epochs", "1"]
        elif argv[0] == "log" and "--finetune" in argv:
            argv = [*argv, "--finetune-epochs", "2"]
        elif argv[0] == "finetune":
            argv = _set(argv, "--epochs", "2")
        return argv


def _expected(argv: list[str]) -> str:
    words = " ".join(a for a in argv if not a.startswith("--db") and not a.endswith(".sqlite"))
    return next(pat for key, pat in EXPECT if words.startswith(key))


@pytest.mark.slow
def test_readme_blocks_run_as_written(tmp_path: Path, monkeypatch) -> None:
    upstream = require_shared()
    folder = tmp_path / "my-lab"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("DRXLAB_DB", raising=False)
    url, server = _serve(upstream / "pretrained")
    lab = Lab(folder, url)
    commands = readme_commands("The loop") + readme_commands("Everyday data use")
    assert len(commands) >= 25
    try:
        for argv in commands:
            real = lab.prepare(argv)
            r = lab.run(real)
            shown = "drxlab " + " ".join(argv)
            assert r.exit_code == 0, f"{shown}\n{r.output}"
            assert re.search(_expected(argv), r.stdout, re.MULTILINE | re.DOTALL), f"{shown}\n{r.output}"
            assert "nan" not in r.stdout.lower().replace("nan-", ""), f"{shown}\n{r.output}"
            if "--db" not in argv:  # the store it names is the one in this folder
                assert f"store: {folder / 'db' / 'drxlab.sqlite'}" in r.stderr or "store:" not in r.stderr, (
                    shown
                )
    finally:
        server.shutdown()
    for made in ("he1.png", "he-drx.html", "profiles.csv", "virtual-lab.sqlite", "db/drxlab.sqlite"):
        assert (folder / made).exists(), made
    assert (
        len(json.loads(lab.run(["tests", "--json"]).stdout)) == 2 + 1 + 3 + 1
    )  # log ×2, LMTO, DRX-TD ×3, cell7
