"""The testing library every test (and bench/) shares; no test module imports another. The root
conftest.py loads the modules that define fixtures as pytest plugins (``users``, ``stack``,
``cameras``, ``browser``, ``storage``, ``cli``); conftest.py files hold fixtures only.

Agent side, importing no Django (edge_agent's and the SDK's tests use these):
``paths`` (the repository, the shared media and reference files), ``ports`` (free ports),
``waiting`` (polling on conditions, never guessed sleeps; HTTP probes), ``cameras`` (the real
RTSP server; ``rtsp_server.py`` is the server itself), ``tcp_proxy`` (a cuttable network path),
``agents`` (the application supervisor fed by an asset server, the job runner), ``runtime`` (the
edge runtime's processes), ``onnx_models`` (small ONNX models), ``sdk`` (frames and a code
node's configuration), ``samples`` (sample applications as documents), ``reference`` (the
Panorama reference files), ``cli_project`` (vantage-cli's sample project, a fake console),
``framework_reference`` (models run in their own frameworks).

Console side (Django): ``users`` (one user of each role and their clients), ``stack`` (the live
stack), ``browser`` (Chromium and signing in), ``storage`` (the asset store, on disk or S3),
``devices`` (appliances as rows: the one place tests create a Device), ``link`` (a device link
in-process), ``deploy`` (registering packages, cameras, the REST API's and the wizard's deploy
requests, the workflow, a device's reports), ``panorama`` (the Panorama API's wire check and
helpers), ``cli`` (vantage-cli against the live stack), ``database`` (what the database holds),
``appliances`` and ``agent_pieces`` (real agents and LinkClients against the live stack),
``stop_tasks`` (tasks the stop tests queue).
"""
