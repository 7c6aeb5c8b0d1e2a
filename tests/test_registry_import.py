"""`voting import-residents`: CSV and XLSX, all rows or none, every bad row named. (Updating a
registry, the preview and moves: `test_registry_update.py`.)"""
import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from factories import valid_id_number
from voting.extensions import db
from voting.residents.models import Resident

HEADING = "name,id_number,phone,grid,address\n"


def residents():
    return db.session.scalar(select(func.count(Resident.id)))


def write(tmp_path, text, name="registry.csv", encoding="utf-8-sig"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_csv_import(world, runner, tmp_path):
    before = residents()
    path = write(tmp_path, HEADING + f"张三,{valid_id_number(901)},13800000000,ca-1,1栋101\n"
                                     f"李四,{valid_id_number(902)},,ca-1,2栋202\n")
    result = runner.invoke(args=["import-residents", path, "--community", "ca", "--mark-moved"])
    assert result.exit_code == 0, result.output
    assert "imported 2 new" in result.output and residents() == before + 2
    assert "3 marked moved away" in result.output  # the world's residents of ca are not in the file
    stored = db.session.scalar(select(Resident).where(Resident.name == "张三"))
    assert stored.grid.code == "ca-1" and valid_id_number(901) not in stored.id_hash


def test_chinese_headings_and_gb18030(world, runner, tmp_path):
    path = write(tmp_path, f"姓名,身份证号,电话,网格,地址\n王五,{valid_id_number(903)},,ca-1,3栋\n", encoding="gb18030")
    result = runner.invoke(args=["import-residents", path, "--community", "ca", "--mark-moved"])
    assert result.exit_code == 0, result.output


def test_xlsx_import(world, runner, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["name", "id_number", "phone", "grid", "address"])
    sheet.append(["赵六", valid_id_number(904), "13900000000", "ca-1", "4栋"])
    buffer = io.BytesIO()
    book.save(buffer)
    path = tmp_path / "registry.xlsx"
    path.write_bytes(buffer.getvalue())
    result = runner.invoke(args=["import-residents", str(path), "--community", "ca", "--mark-moved"])
    assert result.exit_code == 0, result.output


def test_bad_rows_are_all_named_and_nothing_is_imported(world, runner, tmp_path):
    good = valid_id_number(905)
    bad_check = valid_id_number(906)[:17] + ("0" if valid_id_number(906)[17] != "0" else "1")
    path = write(tmp_path, HEADING
                 + f"好人,{good},,ca-1,1栋\n"          # row 2: fine
                 + f"坏号,{bad_check},,ca-1,1栋\n"     # row 3: check digit
                 + f"错网格,{valid_id_number(907)},,cb-1,1栋\n"  # row 4: grid of another community
                 + f"重复,{good},,ca-1,1栋\n"          # row 5: same ID as row 2
                 + f",{valid_id_number(908)},,ca-1,\n")  # row 6: no name, no address
    before = residents()
    result = runner.invoke(args=["import-residents", path, "--community", "ca"])
    assert result.exit_code == 1
    for row in ("row 3:", "row 4:", "row 5:", "row 6:"):
        assert row in result.output
    assert "row 2:" not in result.output and "nothing imported" in result.output
    assert residents() == before


def test_importing_the_same_file_again_changes_nothing(world, runner, tmp_path):
    path = write(tmp_path, HEADING + f"张三,{valid_id_number(909)},,ca-1,1栋\n")
    assert runner.invoke(args=["import-residents", path, "--community", "ca", "--mark-moved"]).exit_code == 0
    before = residents()
    again = runner.invoke(args=["import-residents", path, "--community", "ca"])
    assert again.exit_code == 0 and "nothing to change" in again.output and "1 unchanged" in again.output
    assert residents() == before


@pytest.mark.parametrize("content, message", [
    ("name,id_number,grid,address\n", "missing: phone"),
    ("name,id_number,phone,grid,address,age\n", "unknown: age"),
    ("", "empty"),
    (HEADING, "no residents"),
])
def test_wrong_columns(world, runner, tmp_path, content, message):
    result = runner.invoke(args=["import-residents", write(tmp_path, content), "--community", "ca"])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_wrong_format_and_unknown_community(world, runner, tmp_path):
    assert "csv or .xlsx" in runner.invoke(args=["import-residents", write(tmp_path, "x", "r.txt"),
                                                 "--community", "ca"]).output
    assert "workbook" in runner.invoke(args=["import-residents", write(tmp_path, "x", "r.xlsx"),
                                             "--community", "ca"]).output
    result = runner.invoke(args=["import-residents", write(tmp_path, HEADING), "--community", "zz"])
    assert result.exit_code == 1 and "zz" in result.output
