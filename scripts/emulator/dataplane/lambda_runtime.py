"""Invokes a Lambda function as deployed in the emulator: the code is the function's zip as moto stores it (so a
test exercises what `up` uploaded, not a copy from the repository), run in its own process with the function's
environment variables, handler and timeout — one warm environment per version of the function's code and
configuration, as Lambda keeps one until the function changes. The function's log lines go to its CloudWatch Logs
group `/aws/lambda/<name>` in a stream named like Lambda's (`YYYY/MM/DD/[$LATEST]<id>`).

The function runs with an STS session of its execution role: what it may do in AWS is what the role's policies
allow, as moto authorises each of its requests (iam.py). Lambda's states are honoured: a function whose State is not Active or whose last update failed is not invoked
(Lambda answers ResourceConflictException / the invoke fails).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

from . import iam
from .aws import Aws

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambda_worker.py")


class InvokeError(Exception):
    """The invoke failed (function missing, not active, crashed, timed out); `kind` is Lambda's error type."""

    def __init__(self, kind: str, message: str, log_stream: str | None = None):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.log_stream = log_stream


@dataclass
class Invocation:
    result: Any
    log_group: str
    log_stream: str
    request_id: str


class _Environment:
    def __init__(self, aws: Aws, region: str, fn: Any, key: tuple):
        self.key = key
        self.aws = aws
        self.region = region
        self.name = fn.function_name
        self.log_group = f"/aws/lambda/{self.name}"
        self.log_stream = time.strftime("%Y/%m/%d/", time.gmtime()) + "[$LATEST]" + uuid.uuid4().hex
        self.timeout = float(fn.timeout or 3)
        self.dir = tempfile.TemporaryDirectory(prefix=f"lambda-{self.name}-")
        with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as z:
            z.extractall(self.dir.name)
        # Lambda assumes the function's execution role and hands the session to the function: every AWS call the
        # function makes is authorised against the role's policies as stored now (iam.py).
        try:
            credentials = iam.role_session(fn.role, "lambda.amazonaws.com", self.name, region)
        except iam.AccessDenied as e:
            self.dir.cleanup()
            raise InvokeError("AccessDeniedException", f"The role defined for the function cannot be assumed by Lambda: {e}") from None
        env = {
            "PATH": os.environ.get("PATH", ""),
            **credentials,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            # Every AWS call the function makes goes to the emulator (boto3 honours AWS_ENDPOINT_URL).
            "AWS_ENDPOINT_URL": aws.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size or 128),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": self.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        env.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
        self.proc = subprocess.Popen(
            [sys.executable, WORKER, self.dir.name, fn.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
        )
        self._lock = threading.Lock()
        self._log: list[tuple[int, str]] = []
        self._log_lock = threading.Lock()
        threading.Thread(target=self._read_log, name=f"lambda-log-{self.name}", daemon=True).start()

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._log_lock:
                self._log.append((int(time.time() * 1000), line.rstrip("\n")))

    def ship_logs(self) -> None:
        with self._log_lock:
            lines, self._log = self._log, []
        if lines:
            self.aws.put_log_lines(self.region, self.log_group, self.log_stream, lines)

    def invoke(self, event: Any) -> Invocation:
        request_id = str(uuid.uuid4())
        with self._lock:
            if self.proc.poll() is not None:
                raise InvokeError("Runtime.ExitError", "the execution environment exited", self.log_stream)
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(json.dumps({"request_id": request_id, "event": event}) + "\n")
            self.proc.stdin.flush()
            answer: dict[str, Any] = {}
            done = threading.Event()

            def read() -> None:
                line = self.proc.stdout.readline()  # type: ignore[union-attr]
                if line:
                    answer.update(json.loads(line))
                done.set()

            threading.Thread(target=read, daemon=True).start()
            if not done.wait(self.timeout + 1):
                self.proc.kill()
                raise InvokeError("Sandbox.Timedout", f"Task timed out after {self.timeout:.2f} seconds", self.log_stream)
        # The END line follows the answer on stderr: give the log reader a moment by waiting for it.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            with self._log_lock:
                if any(f"END RequestId: {request_id}" in m for _, m in self._log):
                    break
            time.sleep(0.005)
        self.ship_logs()
        if not answer:
            raise InvokeError("Runtime.ExitError", "the execution environment exited", self.log_stream)
        if "error" in answer:
            raise InvokeError(answer["error"].get("errorType", "Unhandled"), answer["error"].get("errorMessage", ""), self.log_stream)
        return Invocation(answer.get("result"), self.log_group, self.log_stream, request_id)

    def close(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            pass
        self.dir.cleanup()


class LambdaRuntime:
    def __init__(self, aws: Aws):
        self.aws = aws
        self._envs: dict[str, _Environment] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _function(arn: str) -> Any:
        from moto.awslambda.models import lambda_backends

        parts = arn.split(":")
        account, region, name = parts[4], parts[3], parts[6]
        try:
            return lambda_backends[account][region].get_function(name)
        except Exception:  # noqa: BLE001
            raise InvokeError("ResourceNotFoundException", f"Function not found: {arn}") from None

    def invoke(self, arn: str, event: Any) -> Invocation:
        region = arn.split(":")[3]
        fn = self._function(arn)
        state = getattr(fn, "state", "Active") or "Active"
        if state != "Active":
            raise InvokeError("ResourceConflictException", f"The operation cannot be performed at this time. The function is currently in the following state: {state}")
        key = (fn.code_sha_256, json.dumps(fn.environment_vars or {}, sort_keys=True), fn.handler, str(fn.timeout), fn.role)
        with self._lock:
            env = self._envs.get(arn)
            if env is None or env.key != key or env.proc.poll() is not None:
                if env is not None:
                    env.close()
                env = _Environment(self.aws, region, fn, key)
                self._envs[arn] = env
        return env.invoke(event)

    def close(self) -> None:
        with self._lock:
            for env in self._envs.values():
                env.close()
            self._envs.clear()
