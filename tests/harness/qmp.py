"""A minimal QMP client: commands answered in order, asynchronous events kept aside."""
import json
import queue
import socket
import threading
from pathlib import Path


class QMPError(RuntimeError):
    """QEMU answered a command with an error."""

    def __init__(self, command: str, error: dict):
        super().__init__(f"QMP {command}: {error.get('class')}: {error.get('desc')}")
        self.command = command
        self.error = error


class QMPClosed(RuntimeError):
    pass


class QMP:
    def __init__(self, path: Path, timeout: float = 30):
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rwb")
        self.replies: queue.Queue = queue.Queue()
        self.events: list[dict] = []
        self.lock = threading.Lock()
        greeting = json.loads(self.file.readline())
        if "QMP" not in greeting:
            raise QMPClosed(f"unexpected QMP greeting: {greeting}")
        self.reader = threading.Thread(target=self._read_forever, daemon=True)
        self.reader.start()
        self.command("qmp_capabilities")

    def _read_forever(self):
        try:
            for line in self.file:
                message = json.loads(line)
                if "event" in message:
                    with self.lock:
                        self.events.append(message)
                else:
                    self.replies.put(message)
        except (OSError, ValueError):  # socket shut down under us by close()
            pass
        self.replies.put(None)  # no more replies will come

    def command(self, name: str, **arguments) -> dict:
        """Run a QMP command; return its `return` payload, raise QMPError on `error`."""
        request = {"execute": name}
        if arguments:
            request["arguments"] = arguments
        try:
            self.file.write(json.dumps(request).encode() + b"\n")
            self.file.flush()
            reply = self.replies.get(timeout=self.timeout)
        except (BrokenPipeError, ConnectionResetError):
            reply = None
        except queue.Empty:
            raise TimeoutError(f"QMP {name}: no answer in {self.timeout} s") from None
        if reply is None:
            raise QMPClosed(f"QMP {name}: QEMU closed the connection")
        if "error" in reply:
            raise QMPError(name, reply["error"])
        return reply["return"]

    def take_events(self) -> list[dict]:
        """Events received since the last call."""
        with self.lock:
            events, self.events = self.events, []
        return events

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread
        except OSError:
            pass
        self.reader.join(timeout=5)
        try:
            self.file.close()
        except OSError:
            pass  # unsent data after QEMU went away
        self.sock.close()
