"""Test helpers for code built on s3opt: a real moto S3 server on loopback.

:class:`MotoServer` runs moto's S3 server in a subprocess on 127.0.0.1 (with the
part list of a multipart object in GetObjectAttributes, which moto 5.2 leaves out). Tests
then talk to it over real HTTP exactly as they would to S3, which exercises
the whole stack (signing, aiohttp, retries, XML errors) rather than patching
botocore in-process. Needs the ``testing`` extra (``pip install
s3opt[testing]``, which brings ``moto[server]``)::

    from s3opt.testing import MotoServer

    with MotoServer() as server:
        server.make_bucket("demo")
        os.environ.update(server.env)          # or pass server.endpoint_url in an S3Config
        ...

The server keeps all data in memory; :meth:`MotoServer.reset` empties it.
Importing this package imports neither moto (the server runs in its own
process) nor pytest; the pytest fixtures built on it are in
:mod:`s3opt.testing.fixtures`.

``command=`` runs another server program instead of moto's own (a patched moto,
say) with the same process management; it must take moto's ``-H HOST -p PORT``
arguments and answer HTTP on ``/moto-api/``::

    MotoServer(command=[sys.executable, "my_patched_moto.py"])

:func:`stop_process` is how :meth:`MotoServer.stop` stops its server (terminate, wait,
then kill), for tests and tools that run helper processes of their own.
"""

from __future__ import annotations

from s3opt.testing._moto_server import MotoServer as MotoServer
from s3opt.testing._moto_server import MotoServerError as MotoServerError
from s3opt.testing._process import stop_process as stop_process

__all__ = ["MotoServer", "MotoServerError", "stop_process"]
