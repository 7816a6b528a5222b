// Methods the module answers itself. Each writes its result through the
// writer and returns 0, or returns a JSON-RPC error code.
import { INVALID_PARAMS, METHOD_NOT_FOUND } from "../abi";

import { tokCount } from "../json/tokenizer";
import { wValue } from "../json/value";
import { wText, wAt, wByte, wLen, wRewind, wU32 } from "../json/writer";
import * as T from "../json/text";
import { heapTop } from "../mem";
import { callHost, setMethodName, nameIs, startedAt, nowMs } from "./call";

/** Runs the built-in named by the current method name (params: its token, 0 for none), or returns METHOD_NOT_FOUND. */
export function builtinMethod(params: u32): i32 {
  if (nameIs(T.T_ECHO)) {
    if (params) wValue(params);
    else wText(T.T_NULL);
    return 0;
  }
  let list = nameIs(T.T_RPC_LIST);
  if (!list && !nameIs(T.T_SYS_INFO)) return METHOD_NOT_FOUND;
  if (params && tokCount(params)) return INVALID_PARAMS;
  if (list) {
    wText(T.T_LIST_MODULE);
    mergeHost(T.T_RPC_LIST, 0x5b); // ... ]
  } else {
    wText(T.T_INFO_HEAD);
    wU32(nowMs - startedAt);
    wText(T.T_MEMORY_USED);
    wU32(<u32>heapTop);
    wText(T.T_MEMORY_SIZE);
    wU32(<u32>memory.size() << 16) // 0 only for a full 4 GiB;
    mergeHost(T.T_SYS_INFO, 0x7b); // ... }
  }
  return 0;
}

// Appends the members of the host's answer to `method` (an array or object,
// without its brackets) after a comma, then closes the module's own: `open` is
// '[' or '{', its closing bracket two bytes up. A host without it adds nothing.
function mergeHost(method: usize, open: u32): void {
  let mark = wLen;
  wByte(0x2c);
  setMethodName(method);
  if (callHost(0) == 0 && wLen - mark > 3 && load<u8>(wAt(mark + 1)) == open) {
    let inner = wLen - mark - 3;
    memory.copy(wAt(mark + 1), wAt(mark + 2), inner);
    wRewind(mark + 1 + inner);
  } else wRewind(mark);
  wByte(open + 2);
}
