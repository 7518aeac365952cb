"""Python's doipclient (or doip_rs in its place) and udsoncan, unchanged, against `doip sim`
on 127.0.0.1:13400.

Run by `cargo xtask interop` (part of `cargo xtask ci`) in a throwaway virtualenv, once per
module, each time against a fresh simulator after `doip flash` wrote IMAGE (a binary file)
to ADDRESS of ECU 0x4011: udsoncan reads it back with RequestUpload. DOIP_MODULE picks the
DoIP package (doipclient, the default, or doip_rs); the checks are the same. Exits
non-zero, naming the step, on any mismatch.

    DOIP_MODULE=doipclient|doip_rs interop.py IP [IMAGE ADDRESS]
"""

import os
import sys
import time
from importlib.metadata import version

import udsoncan

MODULE = os.environ.get("DOIP_MODULE", "doipclient")
if MODULE == "doipclient":
    from doipclient import DoIPClient
    from doipclient.connectors import DoIPClientUDSConnector
elif MODULE == "doip_rs":
    from doip_rs import DoIPClient
    from doip_rs.connectors import DoIPClientUDSConnector
else:
    sys.exit(f"interop: DOIP_MODULE must be doipclient or doip_rs, not {MODULE!r}")
from udsoncan import MemoryLocation
from udsoncan.client import Client
from udsoncan.services import ControlDTCSetting, ECUReset

IP = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
IMAGE = sys.argv[2] if len(sys.argv) > 2 else None
ADDRESS = int(sys.argv[3], 0) if len(sys.argv) > 3 else 0
VIN = "WDOIPRS0000000001"
ENGINE = 0x4011
SECURITY_KEY = 0x5A5AA5A5  # the simulator's documented algorithm: key = seed XOR this


def check(step, condition, detail):
    if not condition:
        print(f"interop[{MODULE}]: FAILED at {step}: {detail}")
        sys.exit(1)
    print(f"interop[{MODULE}]: {step}: ok ({detail})")


DISTRIBUTION = {"doipclient": "doipclient", "doip_rs": "doip-rs"}[MODULE]
print(f"interop[{MODULE}]: using {MODULE} {version(DISTRIBUTION)} from {os.path.dirname(sys.modules[DoIPClient.__module__].__file__)}")


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


def xor_key(level, seed, params):
    constant = SECURITY_KEY.to_bytes(4, "big")
    return bytes(s ^ constant[i % 4] for i, s in enumerate(seed))


def upload(uds, address, size):
    location = MemoryLocation(address, size, address_format=32, memorysize_format=32)
    response = uds.request_upload(location)
    block = response.service_data.max_length - 2
    data = b""
    counter = 1
    while len(data) < size:
        response = uds.transfer_data(counter & 0xFF)
        chunk = response.service_data.parameter_records
        if not chunk or len(chunk) > block:
            check("udsoncan RequestUpload", False, f"block {counter} of {len(chunk)} bytes")
        data += chunk
        counter += 1
    uds.request_transfer_exit()
    return data


# The simulator's UDS services through udsoncan, on the engine ECU.
engine = DoIPClient(IP, ENGINE)
config = dict(udsoncan.configs.default_client_config)
config["data_identifiers"] = {
    0xF190: udsoncan.AsciiCodec(17),
    0xF199: ">I",
    0xF186: "B",
}
config["security_algo"] = xor_key
with Client(DoIPClientUDSConnector(engine), request_timeout=5, config=config) as uds:
    response = uds.change_session(3)
    p2, p2_star = response.service_data.p2_server_max, response.service_data.p2_star_server_max
    check("udsoncan DiagnosticSessionControl 03", (p2, p2_star) == (0.05, 5.0), f"P2 {p2} s, P2* {p2_star} s")

    response = uds.read_data_by_identifier([0xF190, 0xF186])
    values = response.service_data.values
    session = values[0xF186][0] if isinstance(values[0xF186], tuple) else values[0xF186]
    check("udsoncan ReadDataByIdentifier F190+F186", values[0xF190] == VIN and session == 3, str(values))

    uds.unlock_security_access(1)
    check("udsoncan SecurityAccess level 1", True, "seed XOR key accepted")

    uds.write_data_by_identifier(0xF199, 0x20261203)
    written = uds.read_data_by_identifier(0xF199).service_data.values[0xF199]
    written = written[0] if isinstance(written, tuple) else written
    check("udsoncan WriteDataByIdentifier F199", written == 0x20261203, hex(written))

    uds.communication_control(control_type=0x01, communication_type=0x01)
    check("udsoncan CommunicationControl", True, "enableRxAndDisableTx, normal messages")
    uds.communication_control(control_type=0x00, communication_type=0x01)

    uds.control_dtc_setting(ControlDTCSetting.SettingType.off)
    uds.control_dtc_setting(ControlDTCSetting.SettingType.on)
    check("udsoncan ControlDTCSetting", True, "off, on")

    response = uds.start_routine(0x0203)
    check("udsoncan RoutineControl 0203", response.positive, response.service_data.routine_status_record.hex())

    response = uds.get_dtc_by_status_mask(0x08)
    dtcs = {dtc.id: dtc.status.get_byte_as_int() for dtc in response.service_data.dtcs}
    check("udsoncan ReadDTCInformation 02", 0x123456 in dtcs and all(s & 0x08 for s in dtcs.values()), str({hex(k): hex(v) for k, v in dtcs.items()}))
    count = uds.get_number_of_dtc_by_status_mask(0xFF).service_data.dtc_count
    check("udsoncan ReadDTCInformation 01", count >= len(dtcs), f"{count} DTCs")
    uds.clear_dtc(0xFFFFFF)
    after = uds.get_number_of_dtc_by_status_mask(0xFF).service_data.dtc_count
    check("udsoncan ClearDiagnosticInformation", after == 0, f"{after} DTCs after clearing")

    location = MemoryLocation(0x00F0_0000, 4, address_format=32, memorysize_format=32)
    uds.write_memory_by_address(location, bytes([1, 2, 3, 4]))
    block = uds.read_memory_by_address(location).service_data.memory_block
    check("udsoncan Write/ReadMemoryByAddress", block == bytes([1, 2, 3, 4]), block.hex())

    # A download by udsoncan, read back by udsoncan.
    payload = bytes((i * 13) & 0xFF for i in range(10000))
    location = MemoryLocation(0x00E0_0000, len(payload), address_format=32, memorysize_format=32)
    response = uds.request_download(location)
    step = response.service_data.max_length - 2
    for i, offset in enumerate(range(0, len(payload), step)):
        uds.transfer_data((i + 1) & 0xFF, payload[offset:offset + step])
    uds.request_transfer_exit()
    check("udsoncan RequestDownload/TransferData/Exit", upload(uds, 0x00E0_0000, len(payload)) == payload, f"{len(payload)} bytes read back")

    if IMAGE:
        with open(IMAGE, "rb") as f:
            image = f.read()
        back = upload(uds, ADDRESS, len(image))
        check("udsoncan RequestUpload of what `doip flash` wrote", back == image, f"{len(image)} bytes at {ADDRESS:#x}")

    response = uds.ecu_reset(ECUReset.ResetType.hardReset)
    check("udsoncan ECUReset", response.positive, "hard reset")
engine.close()
print(f"interop[{MODULE}]: all checks passed")
