"""Python doipclient 1.2.2 doing the jobs of doip-client's benchmark against `doip sim`, and
udsoncan 1.26.1 over doipclient's connector doing `doip flash`'s download.

Prints one line per job: `python_doipclient <job> <rate> <unit>`. Run by `cargo xtask bench`
(which starts the simulator and compares with the Rust figures of the same run).
"""

import sys
import time

from doipclient import DoIPClient
from doipclient.connectors import DoIPClientUDSConnector
from udsoncan import MemoryLocation
from udsoncan.client import Client

IP, PORT = sys.argv[1], int(sys.argv[2])
ECU = 0x4011
ROUND_TRIPS = 2000
IMAGE = 16 << 20
BLOCK = 4093

client = DoIPClient(IP, ECU, tcp_port=PORT)

start = time.perf_counter()
for _ in range(ROUND_TRIPS):
    client.send_diagnostic(bytes([0x3E, 0x00]))
    assert client.receive_diagnostic() == bytes([0x7E, 0x00])
elapsed = time.perf_counter() - start
print(f"python_doipclient uds_round_trip {ROUND_TRIPS / elapsed:.1f} per_s")

image = bytes((i * 31) & 0xFF for i in range(IMAGE))
start = time.perf_counter()
client.send_diagnostic(bytes([0x34, 0x00, 0x44, 0, 0, 0, 0]) + IMAGE.to_bytes(4, "big"))
assert client.receive_diagnostic()[0] == 0x74
for i, offset in enumerate(range(0, IMAGE, BLOCK)):
    client.send_diagnostic(bytes([0x36, (i + 1) & 0xFF]) + image[offset:offset + BLOCK])
    assert client.receive_diagnostic()[0] == 0x76
client.send_diagnostic(bytes([0x37]))
assert client.receive_diagnostic()[0] == 0x77
elapsed = time.perf_counter() - start
print(f"python_doipclient flash_16mib {IMAGE / elapsed / (1 << 20):.2f} MiB_per_s")

# The same download through udsoncan (what `doip flash` is compared with).
with Client(DoIPClientUDSConnector(client), request_timeout=5) as uds:
    start = time.perf_counter()
    location = MemoryLocation(0, IMAGE, address_format=32, memorysize_format=32)
    step = uds.request_download(location).service_data.max_length - 2
    for i, offset in enumerate(range(0, IMAGE, step)):
        uds.transfer_data((i + 1) & 0xFF, image[offset:offset + step])
    uds.request_transfer_exit()
    elapsed = time.perf_counter() - start
print(f"python_udsoncan udsoncan_flash_16mib {IMAGE / elapsed / (1 << 20):.2f} MiB_per_s")
client.close()
