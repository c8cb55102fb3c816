"""Converter workers: scripts that run as subprocesses with a framework env's python
(``python -I workers/convert_<env>.py job.json``; named so that none shadows the framework it
imports). They import only their env's packages and
``_job`` beside them: never the console, Django or the rest of the repository."""
