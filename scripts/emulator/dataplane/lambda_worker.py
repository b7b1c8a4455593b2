"""One warm execution environment of a Python Lambda function, run as its own process by lambda_runtime.py.

    python lambda_worker.py CODE_DIR HANDLER        (HANDLER: module.function)

The function's environment variables are this process's environment (set by the runtime, as Lambda does).
Each line on stdin is one invocation {"request_id": ..., "event": ...}; each answer is one line on stdout
{"request_id": ..., "result": ...} or {"request_id": ..., "error": {"errorType": ..., "errorMessage": ...}}.
The function's own output — print() and the logging module — goes to stderr, which the runtime ships to the
function's CloudWatch log stream as Lambda does. Events and results are never logged.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time


class _Context:
    def __init__(self, request_id: str, timeout_s: float):
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def main() -> int:
    code_dir, handler_name = sys.argv[1], sys.argv[2]
    out = sys.stdout
    sys.stdout = sys.stderr  # the function's print() goes to the log, as in Lambda
    ids = _RequestIdFilter()
    log_handler = logging.StreamHandler(sys.stderr)
    log_handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(aws_request_id)s\t%(message)s"))
    log_handler.addFilter(ids)
    logging.getLogger().addHandler(log_handler)
    logging.getLogger().setLevel(logging.WARNING)
    sys.path.insert(0, code_dir)
    module_name, function_name = handler_name.rsplit(".", 1)
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except Exception as e:  # noqa: BLE001 - an init error, as Lambda reports it
        print(f"[ERROR] Runtime.ImportModuleError: Unable to import module '{module_name}': {e}", file=sys.stderr)
        function = None
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "30"))
    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["request_id"]
        ids.request_id = request_id
        print(f"START RequestId: {request_id} Version: $LATEST", file=sys.stderr, flush=True)
        if function is None:
            answer = {"errorType": "Runtime.ImportModuleError", "errorMessage": f"Unable to import module '{module_name}'"}
            reply = {"request_id": request_id, "error": answer}
        else:
            try:
                reply = {"request_id": request_id, "result": function(request["event"], _Context(request_id, timeout))}
            except Exception as e:  # noqa: BLE001 - an unhandled error, as Lambda reports it
                print(f"[ERROR] {type(e).__name__}: {e}", file=sys.stderr)
                reply = {"request_id": request_id, "error": {"errorType": type(e).__name__, "errorMessage": str(e)}}
        print(f"END RequestId: {request_id}", file=sys.stderr, flush=True)
        out.write(json.dumps(reply, default=str) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
