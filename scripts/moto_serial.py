"""moto server answering one request at a time, on 127.0.0.1.

moto's TransactWriteItems deep-copies the tables for rollback without a
lock: under concurrent requests its threaded server fails with "dictionary
changed size during iteration" (HTTP 500). Serving requests one at a time
keeps the emulator correct while the code under test still runs many
requests in flight that interleave between each other, which is what the
conditional writes must survive (DynamoDB itself serialises writes per item).

Usage: python moto_serial.py PORT
"""

import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

port = int(sys.argv[1])
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
run_simple("127.0.0.1", port, app, threaded=False)
