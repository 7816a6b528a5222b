// Codec exports (assembly/ABI.md, "Codec").
export function abi_version(): u32 {
  return 1;
}
