"""The sample applications in ``samples/``, loaded into this installation (``load_sample``).

Loading does what a developer does with vantage-cli (developer guide, "The people counter
sample"), with vantage-cli's own code, so the result is the same:

1. the project is copied to a temporary folder and moved to this installation's account
   (``import-application``);
2. the model is packed into a ``.tar.gz`` and added to the model package (``add-raw-model``),
   and the code package's Dockerfile is built on the base image and exported into the
   container asset (``build-container``; without buildah or root, its code is packed alone);
3. every package is checked as ``package-application`` checks it, its files go into the asset
   store and its package.json is registered as the latest patch, through the registry that the
   API's ``/api/packages/register/`` uses;
4. the sample's demo video becomes a data source (a ``file://`` test source), registered with
   its camera package as the API registers a data source;
5. the imported graph.json is kept at ``<var>/samples/<sample>/graph.json``, to paste into the
   deploy wizard.

Every step is idempotent: the archives are reproducible (an image rebuilt from buildah's
layer cache exports to the same bytes), an asset is stored once and the same
package.json bytes are the same patch, so a second run changes nothing. A newer sample (a later
checkout) replaces the patches that an earlier run registered, as ``package-application`` would;
a patch registered by someone else (a developer's own build of the sample) is never replaced.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from applications.assets import store_asset
from applications.camera_packages import register_camera_package
from applications.models import NodePackage, PatchVersion
from applications.registry import PackageRejected, PatchInUse, deregister_patch, register_patch
from core.models import Installation
from core.status import NodeFromTemplateJobStatus
from datasources.models import DataSource
from datasources.streams import validate_stream_url
from imagebuild.builder import Buildah, cannot_build
from imagebuild.errors import ImageBuildError
from vantage_cli.build import add_raw_model, build_container
from vantage_cli.errors import CliError
from vantage_cli.packaging import Plan, check_package
from vantage_cli.project import App, is_package_dir, write_json
from vantage_cli.scaffold import import_into_account

Progress = Callable[[str], None]


class SampleError(Exception):
    """The sample cannot be loaded; the message says why."""


@dataclass(frozen=True)
class Sample:
    name: str  # its folder under samples/
    code_package: str
    code_asset: str
    model_package: str
    model_asset: str
    model_file: str  # relative to the sample's folder
    camera: str  # the demo data source's name
    camera_description: str
    video: str  # relative to the sample's folder

    @property
    def folder(self) -> Path:
        return Path(settings.BASE_DIR) / "samples" / self.name

    @property
    def video_url(self) -> str:
        return (self.folder / self.video).resolve().as_uri()

    @property
    def var_folder(self) -> Path:
        return Path(settings.VAR_DIR) / "samples" / self.name


SAMPLES = {
    "people_counter": Sample(
        name="people_counter",
        code_package="PEOPLE_COUNTER_CODE",
        code_asset="code_asset",
        model_package="PERSON_DETECTOR",
        model_asset="model_asset",
        model_file="model/ssdlite_mobilenet_v2_person.onnx",
        camera="demo_camera",
        camera_description="Demo camera (pedestrians)",
        video="media/pedestrians.mp4",
    )
}


@dataclass
class Outcome:
    changes: list[str] = field(default_factory=list)  # what this run changed
    notes: list[str] = field(default_factory=list)  # what it left alone, and why
    cli_output: list[str] = field(default_factory=list)  # vantage-cli's own messages
    graph: Path | None = None  # the imported graph.json, for the deploy wizard


# --- building: vantage-cli's commands on a copy of the project -------------------------------


def pack_model(model: Path, archive: Path) -> None:
    """``tar czf archive model`` (the file at the top), reproducibly: the same model always
    gives the same bytes, so loading again stores nothing new."""
    info = tarfile.TarInfo(model.name)
    info.size, info.mode, info.mtime = model.stat().st_size, 0o644, 0
    info.uid, info.gid, info.uname, info.gname = 0, 0, "root", "root"
    with (
        archive.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
        model.open("rb") as stream,
    ):
        tar.addfile(info, stream)


def _cli(command: Callable[..., object], project: Path, outcome: Outcome, *args: object) -> None:
    """Run a vantage-cli function in ``project``, as the command runs in the application folder;
    what it prints is kept for ``load_sample -v 2``."""
    output = io.StringIO()
    try:
        with (
            contextlib.chdir(project),
            contextlib.redirect_stdout(output),
            contextlib.redirect_stderr(output),
        ):
            command(*args)
    except CliError as error:
        raise SampleError(f"{project.name}: {error}") from None
    finally:
        outcome.cli_output += output.getvalue().splitlines()


def _ignore_built(folder: Path) -> Callable[[str, list[str]], set[str]]:
    """copytree's filter: leave out what the loader makes or reads in place."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))}
        if Path(directory) == folder:
            skipped |= {"assets", "media", "model"} & set(names)
        return skipped

    return ignore


def build(
    sample: Sample, account: str, workdir: Path, outcome: Outcome, progress: Progress = print
) -> App:
    """The sample's project in ``workdir``, imported into ``account``, its assets built."""
    model = sample.folder / sample.model_file
    if not model.is_file():
        raise SampleError(f"{model}: the sample's model is missing")
    project = workdir / sample.name
    shutil.copytree(sample.folder, project, ignore=_ignore_built(sample.folder))
    (project / "assets").mkdir()
    _cli(import_into_account, project, outcome, App(project), account)

    model_folder = f"packages/{account}-{sample.model_package}-1.0"
    archive = project / f"{Path(sample.model_file).stem}.tar.gz"
    pack_model(model, archive)
    arguments = argparse.Namespace(
        model_asset_name=sample.model_asset,
        model_s3_uri=None,
        model_local_path=archive.name,
        descriptor_path=f"{model_folder}/descriptor.json",
        packages_path=[model_folder],
    )
    _cli(add_raw_model, project, outcome, arguments)
    # The code runs in the image its Dockerfile builds on the base image, as on Panorama; the
    # base image is the long part the first time, so its progress is shown as it goes.
    reason = cannot_build()
    if reason:
        outcome.notes.append(
            f"its code is packed without its Dockerfile and runs on the appliance's own Python: "
            f"{reason}"
        )
    else:
        code = project / "packages" / f"{account}-{sample.code_package}-1.0"
        try:
            Buildah().use_base_for(code / "Dockerfile", progress=progress)
        except ImageBuildError as error:
            raise SampleError(f"the base image: {error}") from None
    arguments = argparse.Namespace(
        command="build-container",
        local_image=True,
        code_only=bool(reason),
        platform=None,
        container_asset_name=sample.code_asset,
        package_path=f"packages/{account}-{sample.code_package}-1.0",
    )
    _cli(build_container, project, outcome, arguments)
    return App(project)


# --- registering: package-application's steps, on the console's own registry -----------------


class _LoaderRecord:
    """The patches this loader registered, so that a newer sample replaces only its own."""

    def __init__(self, sample: Sample) -> None:
        self.path = sample.var_folder / "registered.json"
        try:
            self.patches: dict[str, list[str]] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.patches = {}

    def mine(self, key: str, patch: str) -> bool:
        return patch in self.patches.get(key, [])

    def add(self, key: str, patch: str) -> None:
        if not self.mine(key, patch):
            self.patches.setdefault(key, []).append(patch)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.path, self.patches)


def _store_files(plan: Plan, outcome: Outcome) -> None:
    for uri, sha, path in plan.files:
        with path.open("rb") as stream:
            stored = store_asset(stream, filename=uri, expected_sha256=sha)
        if stored.created:
            outcome.changes.append(f"stored asset {uri} ({path.stat().st_size} bytes)")


def _register(account: str, plan: Plan, record: _LoaderRecord, outcome: Outcome) -> None:
    key = f"{plan.name} {plan.version}"
    latest = PatchVersion.objects.filter(
        package_version__package__account_id=account,
        package_version__package__name=plan.name,
        package_version__version=plan.version,
        is_latest=True,
    ).first()
    if latest is not None and latest.patch != plan.patch and not record.mine(key, latest.patch):
        outcome.notes.append(
            f"{plan.name} {plan.version}: its latest patch {latest.patch[:12]}… was not "
            "registered by load_sample (your own build?), so it is left as it is"
        )
        return
    _store_files(plan, outcome)
    try:
        registered = register_patch(
            account_id=account,
            name=plan.name,
            version=plan.version,
            manifest_bytes=plan.manifest.encode(),
        )
    except PackageRejected as rejected:
        raise SampleError(f"the console refused {plan.name} {plan.version}: {rejected}") from None
    record.add(key, plan.patch)
    if registered.created:
        outcome.changes.append(f"registered {plan.name} {plan.version} patch {plan.patch[:12]}…")
    elif latest is None or latest.patch != plan.patch:
        outcome.changes.append(f"marked {plan.name} {plan.version} patch {plan.patch[:12]}… latest")
    if latest is not None and latest.patch != plan.patch:
        try:
            deregister_patch(latest)
        except PatchInUse as in_use:
            outcome.notes.append(f"kept the previous patch: {in_use}")
        else:
            outcome.changes.append(f"deregistered the previous patch {latest.patch[:12]}…")


def register(app: App, account: str, sample: Sample, outcome: Outcome) -> None:
    """Check every package as package-application does (all problems at once), then register."""
    report: list = []
    plans = [
        plan
        for folder in app.package_dirs()
        if is_package_dir(folder.name) and (plan := check_package(app, folder, report))
    ]
    if report:
        problems = "; ".join(f"{path.relative_to(app.root)}: {error}" for path, error in report)
        raise SampleError(f"the sample's packages are not valid: {problems}")
    record = _LoaderRecord(sample)
    for plan in plans:
        _register(account, plan, record, outcome)


# --- the demo camera --------------------------------------------------------------------------


def ensure_camera(sample: Sample, account: str, outcome: Outcome) -> None:
    """The demo video as a data source, registered with its camera package as the API does."""
    url = sample.video_url
    source = DataSource.objects.filter(name=sample.camera).first()
    if source is not None and source.url != url:
        outcome.notes.append(
            f"data source {sample.camera} exists with another URL ({source.url}); left as it is"
        )
        return
    if source is None:
        try:
            validate_stream_url(url)
        except DjangoValidationError as invalid:
            outcome.notes.append(
                f"no data source {sample.camera}: {' '.join(invalid.messages)} Add "
                f"{Path(url.removeprefix('file://')).parent} to TEST_MEDIA_DIRS and load again."
            )
            return
    elif NodePackage.objects.filter(account_id=account, name=source.name).exists():
        return
    with transaction.atomic():
        if source is None:
            source = DataSource(name=sample.camera, description=sample.camera_description, url=url)
            source.full_clean()
            source.save()
            outcome.changes.append(f"added data source {sample.camera} ({url})")
        job = register_camera_package(source)
    if job.status == NodeFromTemplateJobStatus.FAILED:
        outcome.notes.append(f"the camera package of {sample.camera}: {job.status_message}")
    else:
        outcome.changes.append(f"registered the camera package {account}::{sample.camera}")


# --- all of it --------------------------------------------------------------------------------


def keep_graph(app: App, sample: Sample, outcome: Outcome) -> None:
    """The imported graph.json, where the operator can find it for the deploy wizard."""
    text = app.graph_path().read_text()
    target = sample.var_folder / "graph.json"
    outcome.graph = target
    if target.is_file() and target.read_text() == text:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    outcome.changes.append(f"wrote the application manifest {target}")


def load(name: str, progress: Progress = print) -> Outcome:
    """Load sample ``name`` into this installation; what changed, and what was left alone."""
    sample = SAMPLES.get(name)
    if sample is None:
        raise SampleError(f"no sample {name!r}; the samples are: {', '.join(sorted(SAMPLES))}")
    if not sample.folder.is_dir():
        raise SampleError(f"{sample.folder}: no such folder")
    account = Installation.get().account_id
    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix=f"vantage-sample-{name}-") as workdir:
        app = build(sample, account, Path(workdir), outcome, progress)
        register(app, account, sample, outcome)
        keep_graph(app, sample, outcome)
    ensure_camera(sample, account, outcome)
    return outcome
