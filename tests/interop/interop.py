"""Python's doipclient and udsoncan, unchanged, against `doip sim` on 127.0.0.1:13400.

Run by `cargo xtask interop` (part of `cargo xtask ci`) in a throwaway virtualenv. Exits
non-zero, naming the step, on any mismatch.
"""

import sys
import time

import udsoncan
from doipclient import DoIPClient
from doipclient.connectors import DoIPClientUDSConnector
from udsoncan.client import Client

IP = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
VIN = "WDOIPRS0000000001"


def check(step, condition, detail):
    if not condition:
        print(f"interop: FAILED at {step}: {detail}")
        sys.exit(1)
    print(f"interop: {step}: ok ({detail})")


# Discovery (the simulator may still be starting: retry for a few seconds).
deadline = time.monotonic() + 20
while True:
    try:
        address, announcement = DoIPClient.get_entity(ecu_ip_address=IP)
        break
    except (TimeoutError, OSError) as e:
        if time.monotonic() > deadline:
            check("discovery", False, f"no vehicle identification response: {e}")
        time.sleep(0.3)
check("discovery", announcement.vin == VIN, f"VIN {announcement.vin} from {address}")
check("announcement address", announcement.logical_address == 0x4010, hex(announcement.logical_address))

# Routing activation happens in the constructor; it raises unless the answer is 0x10.
client = DoIPClient(IP, announcement.logical_address)
check("routing activation", True, "response code 0x10")

status = client.request_entity_status()
check(
    "entity status",
    status.node_type == 0 and status.max_concurrent_sockets == 4 and status.currently_open_sockets >= 1,
    f"node type {status.node_type}, sockets {status.currently_open_sockets}/{status.max_concurrent_sockets}, "
    f"max data size {status.max_data_size}",
)

power = client.request_diagnostic_power_mode()
check("power mode", power.diagnostic_power_mode == 1, f"mode {power.diagnostic_power_mode}")

alive = client.request_alive_check()
check("alive check", alive.source_address == 0x4010, hex(alive.source_address))

config = dict(udsoncan.configs.default_client_config)
config["data_identifiers"] = {0xF190: udsoncan.AsciiCodec(17)}
with Client(DoIPClientUDSConnector(client), request_timeout=5, config=config) as uds:
    response = uds.read_data_by_identifier(0xF190)
    vin = response.service_data.values[0xF190]
    check("udsoncan ReadDataByIdentifier F190", vin == VIN, vin)
    response = uds.tester_present()
    check("udsoncan TesterPresent", response.positive, "positive response")

client.close()
print("interop: all checks passed")
