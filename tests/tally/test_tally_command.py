"""The ``tally`` command, run through click's test runner."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from voting.tally.command import tally_command

DATA = Path(__file__).resolve().parent.parent / "data"
SWIECIE = DATA / "Poland_Swiecie_2023.pb"


def run(*args: str):
    return CliRunner().invoke(tally_command, [str(arg) for arg in args])


def test_json_output_has_the_documented_shape():
    result = run(SWIECIE, "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert list(document) == ["rule", "selected", "cost", "budget", "projects"]
    assert document["rule"] == "mes"
    assert document["budget"] == "1070000"
    assert document["selected"][:3] == ["c12", "c10", "c20"]
    assert document["cost"] == "1040337"
    first = document["projects"][0]
    assert list(first) == ["id", "score", "cost", "selected", "reason"]
    assert first == {
        "id": "c12",
        "score": 1030,
        "cost": "150000",
        "selected": True,
        "reason": first["reason"],
    }
    assert first["reason"].startswith("funded by equal shares: its 1,030 supporters paid at most ")
    assert len(document["projects"]) == 22


def test_decimal_money_is_written_exactly():
    document = json.loads(run(DATA / "Poland_Krakow_2024_Stare_Miasto.pb", "--format", "json").output)
    assert document["budget"] == "1546168.66"


def test_rule_option_overrides_the_file():
    document = json.loads(run(SWIECIE, "--rule", "greedy", "--format", "json").output)
    assert document["rule"] == "greedy"
    second = document["projects"][1]
    assert second["reason"] == "funded: cost 413,000 fits in the remaining 920,000 (score 623)"


def test_text_output_is_a_table_with_reasons():
    result = run(DATA / "Poland_Lodz_2020_Nr_33.pb")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "rule greedy-threshold: 3 projects funded, cost 385,000 of budget 411,000"
    assert lines[2].split() == ["#", "project", "score", "cost", "funded", "reason"]
    assert "W008NR" in lines[3] and "yes" in lines[3]
    assert "not funded: remaining 66,000 < cost 195,000" in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("tie-break: ")


def test_a_malformed_file_exits_2_naming_the_line(tmp_path):
    bad = tmp_path / "bad.pb"
    lines = ["META", "key;value", "budget;100", "vote_type;approval", "PROJECTS", "project_id;cost", "1;ten"]
    bad.write_text("\n".join(lines + ["VOTES", "vote", "1", ""]))
    result = run(bad)
    assert result.exit_code == 2
    assert result.output.startswith(f"{bad}:7: bad cost of project '1': 'ten' is not a plain decimal number")
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_a_rule_the_file_does_not_allow_exits_2():
    path = DATA / "US_Stanford_Dataset_Merced_Peoples_Budget_Ballot_2019_vote_rankings.pb"
    result = run(path)
    assert result.exit_code == 2
    assert result.output.startswith(f"{path}: META rule 'unknown' is not a rule")
    assert run(path, "--rule", "greedy").exit_code == 0


def test_a_missing_file_is_a_usage_error():
    result = run(DATA / "missing.pb")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_the_console_script_counts_without_the_web_app_or_a_database():
    """`voting tally` and `import voting.tally` load neither Flask nor SQLAlchemy (nor Alembic)."""
    probe = ("import sys\n"
             "from voting.console import main\n"
             "try:\n"
             f"    main(['tally', {str(SWIECIE)!r}, '--format', 'json'])\n"
             "except SystemExit as done:\n"
             "    assert not done.code, done.code\n"
             "loaded = sorted({name.split('.')[0] for name in sys.modules} & {'flask', 'sqlalchemy', 'alembic'})\n"
             "print('LOADED', loaded, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["rule"] == "mes"
    assert "LOADED []" in done.stderr


def test_the_console_script_gives_every_other_command_to_the_app():
    done = subprocess.run([sys.executable, "-c", "from voting.console import main; main(['--help'])"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "init-db" in done.stdout and "tally" in done.stdout


def test_a_plain_call_is_read_without_click():
    from voting.console import plain_tally_call

    assert plain_tally_call([str(SWIECIE)]) == {"file": str(SWIECIE)}
    assert plain_tally_call(["--rule=mes", str(SWIECIE), "--format", "json"]) == {
        "file": str(SWIECIE), "rule": "mes", "output_format": "json"}
    for args in (["--help"], [], [str(SWIECIE), str(SWIECIE)], [str(SWIECIE), "--rule", "bogus"],
                 [str(SWIECIE), "--rule"], [str(SWIECIE), "--rule", "mes", "--rule", "greedy"],
                 [str(SWIECIE), "--verbose"], [str(DATA / "missing.pb")], [str(DATA)], ["-"]):
        assert plain_tally_call(args) is None, args  # click explains these, as before


def test_the_console_fast_path_prints_what_the_click_command_prints_and_loads_no_click_or_numpy(tmp_path):
    """A greedy count through `voting tally` loads the counting package only: no click, numpy, Flask."""
    lodz = DATA / "Poland_Lodz_2020_Nr_33.pb"
    bad = tmp_path / "bad.pb"
    lines = ["META", "key;value", "budget;100", "vote_type;approval", "PROJECTS", "project_id;cost", "1;ten"]
    bad.write_text("\n".join(lines + ["VOTES", "vote", "1", ""]))
    probe = ("import sys\n"
             "from voting.console import main\n"
             "try:\n"
             "    main(['tally', *sys.argv[1:]])\n"
             "except SystemExit as done:\n"
             "    code = done.code\n"
             "loaded = sorted({name.split('.')[0] for name in sys.modules}\n"
             "                & {'click', 'numpy', 'flask', 'sqlalchemy', 'alembic', 'argparse'})\n"
             "print('EXIT', code, 'LOADED', loaded, file=sys.stderr)\n")
    calls = (([str(lodz)], 0), ([str(lodz), "--rule", "greedy", "--format", "json"], 0), ([str(bad)], 2))
    for args, code in calls:
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                              check=True)
        expected = run(*args)
        assert f"EXIT {code} LOADED []" in done.stderr
        assert expected.exit_code == code
        printed = done.stdout if code == 0 else done.stderr.replace(done.stderr.splitlines()[-1] + "\n", "")
        assert printed == expected.output
