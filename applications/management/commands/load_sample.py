"""Load a sample application into this installation: its packages and its demo camera."""

from django.core.management.base import BaseCommand, CommandError

from applications.samples import SAMPLES, SampleError, load


class Command(BaseCommand):
    help = (
        "Build a sample application from samples/ with vantage-cli's steps (import-application, "
        "add-raw-model, build-container), register its packages as package-application does, "
        "and add its demo video as a data source. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "sample", nargs="?", default="people_counter", choices=sorted(SAMPLES), help="sample"
        )

    def handle(self, *args, sample: str, verbosity: int, **options):
        try:
            # Building the base image the first time takes a minute or two: shown as it goes.
            outcome = load(sample, progress=lambda line: self.stdout.write(line))
        except SampleError as error:
            raise CommandError(f"Cannot load the sample {sample}: {error}") from None
        if verbosity >= 2:
            for line in outcome.cli_output:
                self.stdout.write(f"  vantage-cli: {line}")
        for note in outcome.notes:
            self.stdout.write(self.style.WARNING(f"Sample {sample}: {note}"))
        if not outcome.changes:
            self.stdout.write(f"Sample {sample} is loaded already: nothing changed.")
            return
        for change in outcome.changes:
            self.stdout.write(f"Sample {sample}: {change}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Sample {sample} loaded. Deploy it from Applications → Deploy with the "
                f"manifest {outcome.graph}."
            )
        )
