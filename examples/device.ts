// A device with a method of its own, on the module under V8, dialling out to a broker.
//   OUTPOST_DEVICE_ID=thermo-1 OUTPOST_DEVICE_CREDENTIAL=<from `outpost device add thermo-1`> \
//     node --import tsx examples/device.ts [mqtt://127.0.0.1:1883]
import { Device, RpcError } from "outpost";

const id = process.env.OUTPOST_DEVICE_ID ?? "thermo-1";
const password = process.env.OUTPOST_DEVICE_CREDENTIAL;
if (!password) {
  console.error("set OUTPOST_DEVICE_CREDENTIAL to the credential `outpost device add` printed");
  process.exit(1);
}

let setpoint = 21;
const device = new Device({
  id,
  methods: {
    // Built-ins (echo, sys.info, rpc.list, config.get) come with the module; these are the host's.
    "thermo.read": () => ({ celsius: 20.5, setpoint }),
    "thermo.set": {
      description: "set the target temperature",
      params: { type: "array", items: [{ type: "number" }], minItems: 1, maxItems: 1 },
      handler: ([celsius]: [number]) => {
        if (celsius < 5 || celsius > 30) throw new RpcError(-32602, "setpoint out of range", { min: 5, max: 30 });
        setpoint = celsius;
        return { setpoint };
      },
    },
  },
});

await device.connect(process.argv[2] ?? "mqtt://127.0.0.1:1883", { password });
console.log(`${id} online`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    await device.close(); // publishes the offline status first
    process.exit(0);
  });
}
