# usage: python3 load-tests/idle_sockets_health.py PATH/TO/saluran
# A server under `ulimit -n 512`, 600 idle TCP sockets on it, /health latency before and after.
import os, socket, subprocess, sys, time, uuid, urllib.request
bin = sys.argv[1]
port = 18000 + os.getpid() % 1000
db = f"sqlite:///tmp/saluran-tests/measure-{uuid.uuid4()}.db"
env = {k: v for k, v in os.environ.items() if not k.startswith("SALURAN_")}
env["SALURAN_CHANNELS_ENABLED"] = "false"
p = subprocess.Popen(["sh", "-c", f"ulimit -n 512 && exec {bin} serve --listen 127.0.0.1:{port} --database-url {db}"], env=env, stderr=subprocess.DEVNULL)
try:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port)).close(); break
        except OSError:
            time.sleep(0.05)
    def health(label):
        t = time.monotonic()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30).read()
            print(f"{label}: /health answered in {1000*(time.monotonic()-t):.1f} ms")
        except Exception as e:
            print(f"{label}: /health failed after {1000*(time.monotonic()-t):.0f} ms: {e}")
    health("no idle sockets")
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(600)]
    time.sleep(0.5)
    health("600 idle sockets")
    time.sleep(1)
    health("600 idle sockets, again")
    fds = len(os.listdir(f"/proc/{p.pid}/fd"))
    print(f"server descriptors open: {fds}")
finally:
    p.terminate(); p.wait(timeout=40)
