#!/usr/bin/env python3
"""CPU cost of one small TCP send over loopback on this machine.

The WebSocket fan-out is bounded by this: every delivered frame is (part of)
one send on the server and one receive on the client, both on the same host.
Usage: loopback-cost.py [SENDS] [--nodelay]
"""
import os
import socket
import sys
import time

sends = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 200_000
nodelay = "--nodelay" in sys.argv
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
port = listener.getsockname()[1]
child = os.fork()
if child == 0:
    reader = socket.create_connection(("127.0.0.1", port))
    want, got = sends * 200, 0
    while got < want:
        chunk = reader.recv(65536)
        if not chunk:
            break
        got += len(chunk)
    os._exit(0)
conn, _ = listener.accept()
if nodelay:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
frame = b"x" * 200
cpu, wall = time.process_time(), time.time()
for _ in range(sends):
    conn.send(frame)
cpu, wall = time.process_time() - cpu, time.time() - wall
os.waitpid(child, 0)
print(f"{sends} sends of 200 B, TCP_NODELAY={nodelay}: sender CPU {cpu / sends * 1e6:.2f} us/send, wall {wall / sends * 1e6:.2f} us/send")
