"""Python doipclient 1.2.2 (or doip_rs in its place) doing the jobs of doip-client's benchmark
against `doip sim`, and udsoncan 1.26.1 over the module's connector doing `doip flash`'s
download.

Prints one line per job: `python_<module> <job> <rate> <unit>`. Run by `cargo xtask bench`
once per module against the same simulator (it compares the modules with each other and
doipclient with the Rust figures of the same run).

    bench.py IP PORT [doipclient|doip_rs]
"""

import sys
import time

IP, PORT = sys.argv[1], int(sys.argv[2])
MODULE = sys.argv[3] if len(sys.argv) > 3 else "doipclient"
if MODULE == "doipclient":
    from doipclient import DoIPClient
    from doipclient.connectors import DoIPClientUDSConnector
elif MODULE == "doip_rs":
    from doip_rs import DoIPClient
    from doip_rs.connectors import DoIPClientUDSConnector
else:
    sys.exit(f"bench: the module must be doipclient or doip_rs, not {MODULE!r}")
from udsoncan import MemoryLocation
from udsoncan.client import Client

ECU = 0x4011
ROUND_TRIPS = 2000
IMAGE = 16 << 20
SMALL_IMAGE = 4 << 20
BLOCK = 4093
NAME = f"python_{MODULE}"

client = DoIPClient(IP, ECU, tcp_port=PORT)


def round_trips(n):
    for _ in range(n):
        client.send_diagnostic(bytes([0x3E, 0x00]))
        assert client.receive_diagnostic() == bytes([0x7E, 0x00])


round_trips(100)  # warm-up
start = time.perf_counter()
round_trips(ROUND_TRIPS)
elapsed = time.perf_counter() - start
print(f"{NAME} uds_round_trip {ROUND_TRIPS / elapsed:.1f} per_s", flush=True)

# (i * 31) & 0xFF repeats every 256 bytes.
image = bytes((i * 31) & 0xFF for i in range(256)) * (IMAGE // 256)
start = time.perf_counter()
client.send_diagnostic(bytes([0x34, 0x00, 0x44, 0, 0, 0, 0]) + IMAGE.to_bytes(4, "big"))
assert client.receive_diagnostic()[0] == 0x74
for i, offset in enumerate(range(0, IMAGE, BLOCK)):
    client.send_diagnostic(bytes([0x36, (i + 1) & 0xFF]) + image[offset:offset + BLOCK])
    assert client.receive_diagnostic()[0] == 0x76
client.send_diagnostic(bytes([0x37]))
assert client.receive_diagnostic()[0] == 0x77
elapsed = time.perf_counter() - start
print(f"{NAME} flash_16mib {IMAGE / elapsed / (1 << 20):.2f} MiB_per_s", flush=True)


def udsoncan_download(uds, size):
    """RequestDownload of `size` bytes at 0, TransferData in the blocks the ECU grants,
    RequestTransferExit: MiB/s."""
    data = image[:size]
    start = time.perf_counter()
    location = MemoryLocation(0, size, address_format=32, memorysize_format=32)
    step = uds.request_download(location).service_data.max_length - 2
    for i, offset in enumerate(range(0, size, step)):
        uds.transfer_data((i + 1) & 0xFF, data[offset:offset + step])
    uds.request_transfer_exit()
    return size / (time.perf_counter() - start) / (1 << 20)


# The same download through udsoncan (what `doip flash` is compared with), and a 4 MiB one.
with Client(DoIPClientUDSConnector(client), request_timeout=5) as uds:
    rate = udsoncan_download(uds, IMAGE)
    print(f"{NAME} udsoncan_flash_16mib {rate:.2f} MiB_per_s", flush=True)
    rate = udsoncan_download(uds, SMALL_IMAGE)
    print(f"{NAME} udsoncan_download_4mib {rate:.2f} MiB_per_s", flush=True)
client.close()
