"""Where uploaded photos live (voting/storage.py): the database by default, an S3-compatible bucket
when configured (tested against moto's in-process S3), and `voting photos import` for the files
that earlier releases left in a host's folder."""
from __future__ import annotations

import hashlib
import io
from datetime import date

import boto3
import pytest
from moto import mock_aws
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from voting import storage
from voting.config import Settings, parse_photo_store
from voting.extensions import db
from voting.proposals.models import ProjectPhoto
from voting.proposals.services import submit_proposal
from voting.storage import ObjectStore, StoredFile
from voting.tracking.models import Milestone, MilestonePhoto

GOOD = {"title": "健身器材更新", "description": "器材坏了。", "category": "sports", "location": "3栋",
        "estimated_cost": "3000"}


def jpeg(color="red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, "JPEG")
    return out.getvalue()


def stored_count() -> int:
    return db.session.scalar(select(func.count()).select_from(StoredFile))


@pytest.fixture()
def collecting(world, factory):
    cycle = factory.cycle(world.a.community, 2027, phase="collection")
    db.session.commit()
    return cycle


# --- Configuration ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (None, None), ("", None), ("database", None),
    ("s3://photos", ("photos", "")), ("s3://photos/shifeng/2027/", ("photos", "shifeng/2027")),
])
def test_the_store_is_read_from_its_address(value, expected):
    assert parse_photo_store(value) == expected


@pytest.mark.parametrize("value", ["/var/photos", "file:///var/photos", "s3://", "s3:///key", "gs://b",
                                   "s3://b?region=x", "db"])
def test_an_unknown_store_stops_the_service_at_start(value, tmp_path):
    with pytest.raises(ValueError, match="VOTING_PHOTO_STORE"):
        Settings.from_env(tmp_path, {"VOTING_SECRET_KEY": "k", "VOTING_PHOTO_STORE": value})


def test_the_database_is_the_default_store(tmp_path):
    config = Settings.from_env(tmp_path, {"VOTING_SECRET_KEY": "k"}).flask_config()
    assert config["PHOTO_STORE"] is None
    config = Settings.from_env(tmp_path, {"VOTING_SECRET_KEY": "k", "VOTING_PHOTO_STORE": "s3://b/p",
                                          "VOTING_PHOTO_STORE_ENDPOINT": "http://minio:9000"}).flask_config()
    assert (config["PHOTO_STORE"], config["PHOTO_STORE_ENDPOINT"]) == ("s3://b/p", "http://minio:9000")


# --- The database store ----------------------------------------------------------------------------

def test_a_stored_file_keeps_its_bytes_type_size_and_digest(app):
    data = jpeg()
    row = storage.put(db.session, "f" * 32 + ".jpg", data, "image/jpeg")
    db.session.commit()
    assert (row.size, row.sha256, row.content_type) == (len(data), hashlib.sha256(data).hexdigest(), "image/jpeg")
    blob = storage.get(db.session, "f" * 32 + ".jpg")
    assert blob.data == data and blob.sha256 == row.sha256
    assert storage.get(db.session, "0" * 32 + ".jpg") is None


def test_the_schema_refuses_a_file_that_is_not_whole(app):
    db.session.add(StoredFile(name="x.jpg", content_type="image/jpeg", size=10, sha256="0" * 64, data=b"short"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_a_failed_upload_leaves_no_row_behind(collecting, app, world):
    with app.test_request_context(method="POST"):
        submit_proposal(db.session, world.a.residents[0], collecting, GOOD, [("a.jpg", jpeg()), ("b.jpg", jpeg())])
        assert stored_count() == 2
        db.session.rollback()
    assert stored_count() == 0 and db.session.scalar(select(func.count()).select_from(ProjectPhoto)) == 0


# --- An S3-compatible bucket (moto) -------------------------------------------------------------------

@pytest.fixture()
def bucket(app, monkeypatch):
    """An in-process S3 (moto) with the bucket `photos`; the app stores under `photos/shifeng/`."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="photos")
        app.config["PHOTO_STORE"] = "s3://photos/shifeng"
        app.extensions.pop("voting.storage.object_store", None)
        yield client
        app.extensions.pop("voting.storage.object_store", None)


def keys(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket="photos").get("Contents", []))


def test_with_a_bucket_the_bytes_go_there_and_are_served_from_there(bucket, collecting, client, auth):
    response = client.post(f"/api/v1/cycles/{collecting.id}/proposals", json=GOOD, headers=auth.headers("resident-ca-1"))
    project_id = response.get_json()["id"]
    response = client.post(f"/api/v1/proposals/{project_id}/photos", headers=auth.headers("resident-ca-1"),
                           data={"photos": [(io.BytesIO(jpeg()), "a.jpg")]}, content_type="multipart/form-data")
    assert response.status_code == 201
    photo = db.session.scalar(select(ProjectPhoto))
    row = db.session.scalar(select(StoredFile))
    assert row.name == photo.filename and row.data is None  # the database names it, the bucket holds it
    assert keys(bucket) == [f"shifeng/{photo.filename}"]
    kept = bucket.get_object(Bucket="photos", Key=f"shifeng/{photo.filename}")
    assert kept["ContentType"] == "image/jpeg" and kept["Metadata"]["sha256"] == row.sha256
    auth.login("resident-ca-2")
    assert client.get(f"/photos/{photo.filename}").status_code == 403  # the access rules stand
    auth.login("resident-ca-1")
    served = client.get(f"/photos/{photo.filename}")
    assert served.status_code == 200 and hashlib.sha256(served.get_data()).hexdigest() == row.sha256

    bucket.delete_object(Bucket="photos", Key=f"shifeng/{photo.filename}")  # lost from the bucket
    assert client.get(f"/photos/{photo.filename}").status_code == 404


def test_with_a_bucket_a_failed_upload_leaves_no_object_behind(bucket, collecting, app, world):
    with app.test_request_context(method="POST"):
        submit_proposal(db.session, world.a.residents[0], collecting, GOOD, [("a.jpg", jpeg()), ("b.jpg", jpeg())])
        assert len(keys(bucket)) == 2
        db.session.rollback()
    assert keys(bucket) == [] and stored_count() == 0
    with app.test_request_context(method="POST"):
        submit_proposal(db.session, world.a.residents[0], collecting, GOOD, [("a.jpg", jpeg())])
        db.session.commit()
    assert len(keys(bucket)) == 1 and stored_count() == 1


def test_a_rollback_stands_when_the_bucket_cannot_delete(bucket, collecting, app, world, monkeypatch, caplog):
    with app.test_request_context(method="POST"):
        submit_proposal(db.session, world.a.residents[0], collecting, GOOD, [("a.jpg", jpeg())])
        monkeypatch.setattr(storage.object_store(), "delete", lambda name: 1 / 0)
        db.session.rollback()
    assert stored_count() == 0 and len(keys(bucket)) == 1  # left in the bucket, named by no row: never served
    assert "could not delete the uncommitted object shifeng/" in caplog.text


def test_files_kept_in_the_database_are_still_served_after_moving_to_a_bucket(app, bucket):
    app.config["PHOTO_STORE"] = None
    app.extensions.pop("voting.storage.object_store", None)
    storage.put(db.session, "a" * 32 + ".jpg", b"\xff\xd8old", "image/jpeg")
    app.config["PHOTO_STORE"] = "s3://photos"
    app.extensions.pop("voting.storage.object_store", None)
    storage.put(db.session, "b" * 32 + ".jpg", b"\xff\xd8new", "image/jpeg")
    db.session.commit()
    assert keys(bucket) == ["b" * 32 + ".jpg"]
    assert [storage.get(db.session, n * 32 + ".jpg").data for n in "ab"] == [b"\xff\xd8old", b"\xff\xd8new"]


def test_an_object_store_needs_a_bucket():
    with pytest.raises(ValueError):
        ObjectStore("database", client=object())


# --- Files that earlier releases kept on a host's disk ---------------------------------------------------

def test_photos_import_brings_a_hosts_files_into_the_store_once(world, factory, app, runner, tmp_path):
    folder = tmp_path / "old-uploads"
    folder.mkdir()
    project = world.a.projects[0]
    names = [f"{n}" * 32 + ".jpg" for n in "123"]
    milestone = factory.add(Milestone(project_id=project.id, happened_on=date(2026, 5, 1), text="进场"))
    for name in names[:2]:
        factory.add(ProjectPhoto(project_id=project.id, filename=name, width=40, height=30))
    factory.add(MilestonePhoto(milestone_id=milestone.id, filename=names[2], width=40, height=30))
    db.session.commit()
    photos = {name: jpeg(color) for name, color in zip(names, ("red", "green", "blue"))}
    for name in names[:1] + names[2:]:
        (folder / name).write_bytes(photos[name])
    (folder / names[1]).write_bytes(b"<html>not a photo</html>")  # damaged: left out, reported
    (folder / ("9" * 32 + ".jpg")).write_bytes(jpeg())             # no row names it: left out
    (folder / ".upload-tmp").write_bytes(b"half")

    result = runner.invoke(args=["photos", "import", "--folder", str(folder)])
    assert result.exit_code == 0, result.output
    assert "2 photos imported" in result.output and "0 already stored" in result.output
    assert "1 photos are neither stored nor in this folder" in result.output and names[1] in result.output
    assert {r.name: storage.get(db.session, r.name).data for r in db.session.scalars(select(StoredFile))} == {
        names[0]: photos[names[0]], names[2]: photos[names[2]]}

    (folder / names[1]).write_bytes(photos[names[1]])  # the file, from the host that kept it
    result = runner.invoke(args=["photos", "import", "--folder", str(folder)])
    assert "1 photos imported" in result.output and "2 already stored" in result.output
    assert "neither" not in result.output
    result = runner.invoke(args=["photos", "import", "--folder", str(folder)])
    assert "0 photos imported" in result.output and "3 already stored" in result.output
    assert stored_count() == 3
    assert [p.name for p in folder.iterdir() if p.name in names]  # the old files are left for the operator


def test_photos_import_reads_the_old_upload_folder_by_default(world, app, factory, runner, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    name = "c" * 32 + ".jpg"
    factory.add(ProjectPhoto(project_id=world.a.projects[0].id, filename=name, width=40, height=30))
    db.session.commit()
    (tmp_path / name).write_bytes(jpeg())
    result = runner.invoke(args=["photos", "import"])
    assert result.exit_code == 0 and f"1 photos imported from {tmp_path}" in result.output
