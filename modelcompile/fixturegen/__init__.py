"""Scripts that make the test models, run with a converter env's python by ``testing.py``
(``python -I <script> OUTDIR VARIANT``): each writes ``OUTDIR/model.tar.gz`` and
``OUTDIR/descriptor.json``. Their output is cached by the script's hash."""
