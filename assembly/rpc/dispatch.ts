// JSON-RPC 2.0 dispatcher: request bytes in, response bytes out, in buffers
// allocated once by rpcInit. Methods the module lacks go to the host through
// host_call. Every failure becomes a JSON-RPC error response (or, for
// notifications, nothing), never a trap.
import { Err, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, REQUEST_TOO_LARGE, RESPONSE_TOO_LARGE } from "../abi";
import { jsonInit, jsonTokenize, JSON_SYNTAX, JSON_TOO_DEEP, J_OBJECT, J_ARRAY, J_STRING, J_NUMBER, J_NULL, tokKind, tokCount, tokEnd, tokNext, tokTextStart, tokTextEnd, tokenCap, tokenCount, depthCap } from "../json/tokenizer";
import { jsonStringIs } from "../json/value";
import { wInit, wBuffer, wCapacity, wReset, wRewind, wLen, wOverflow, wByte, wBytes, wText, wU32 } from "../json/writer";
import * as T from "../json/text";
import { beginRequest, setNow, callHost, decodeMethodName, rawErrorLen, rawErrorPtr, setMethodName, startClock, RAW_ERROR } from "./call";
import { builtinMethod } from "./methods";
import { alloc } from "../mem";

// '{"jsonrpc":"2.0","error":', the start of T_ERROR_CODE, before a host's error object.
const ERROR_HEAD_LENGTH: u32 = 25;
let reqBuf: usize = 0;
let reqCap: u32 = 0;
// Smallest response buffer: the batch fallback error must always fit.
const RESPONSE_MIN: u32 = 128;

// The block rpcInit returns (assembly/ABI.md): u32 request buffer, u32 response buffer.
const info = memory.data(8);

/** Allocates every buffer once. Returns the info block's address, or -AlreadyInitialized. */
export function rpcInit(requestMax: u32, responseMax: u32, tokens: u32, depth: u32, now: u32): i32 {
  if (reqBuf) return -Err.AlreadyInitialized;
  if (responseMax < RESPONSE_MIN) responseMax = RESPONSE_MIN;
  reqCap = requestMax;
  reqBuf = alloc(requestMax);
  wInit(alloc(responseMax), responseMax); // the response buffer is the writer's
  jsonInit(tokens, depth);
  startClock(now);
  store<u32>(info, reqBuf);
  store<u32>(info, wBuffer(), 4);
  return <i32>info;
}
export function rpcRequestBuffer(): usize {
  return reqBuf;
}
export function rpcRequestCapacity(): u32 {
  return reqCap;
}
export function rpcResponseBuffer(): usize {
  return wBuffer();
}
export function rpcResponseCapacity(): u32 {
  return wCapacity();
}

// id: the request's id token, 0 when there is none (token 0 is the request itself).
function writeError(code: i32, id: u32): void {
  writeErrorObject(code);
  writeIdToken(id);
}

// The response up to its id: the head and the error object for `code`.
function writeErrorObject(code: i32): void {
  wText(T.T_ERROR_CODE); // ends in '-'
  wU32(<u32>-code);
  wText(T.T_MESSAGE);
  wText(
    code == PARSE_ERROR ? T.T_PARSE_ERROR
    : code == INVALID_REQUEST ? T.T_INVALID_REQUEST
    : code == METHOD_NOT_FOUND ? T.T_METHOD_NOT_FOUND
    : code == INVALID_PARAMS ? T.T_INVALID_PARAMS
    : code == REQUEST_TOO_LARGE ? T.T_REQUEST_TOO_LARGE
    : code == RESPONSE_TOO_LARGE ? T.T_RESPONSE_TOO_LARGE
    : T.T_INTERNAL_ERROR,
  );
  wByte(0x22);
  if (<u32>(code - RESPONSE_TOO_LARGE) <= <u32>(REQUEST_TOO_LARGE - RESPONSE_TOO_LARGE)) { // either "too large"
    wText(T.T_DATA);
    let max = wCapacity();
    if (limitName) { // every "Request too large", and a response over the packet limit
      wText(T.T_LIMIT);
      wText(limitName);
      wText(T.T_QUOTE_COMMA);
      max = limitMax;
    }
    wText(T.T_MAX);
    wU32(max);
    wByte(0x7d);
  }
  wByte(0x7d);
}
// The limit a "too large" error names (0: the response buffer's), and the id of the last
// single request answered (0: none, or a batch): both cleared by every rpcDispatch.
let limitName: usize = 0;
let limitMax: u32 = 0;
let lastId: u32 = 0;

// The response's id: token `id` as written, null when id is 0. Ends the response.
function writeIdToken(id: u32): void {
  wText(T.T_ID);
  if (id) wBytes(tokTextStart(id), <u32>(tokTextEnd(id) - tokTextStart(id)));
  else wText(T.T_NULL);
  wByte(0x7d);
}

/**
 * The id token of a request the tokenizer gave up on (too deep, too many tokens, cut
 * short at `end`): the top-level "id" member among the members it got through, if a
 * string or a number that something follows (cut there, a number might be longer); else 0.
 */
function partialId(end: usize): u32 {
  if (tokKind(0) != J_OBJECT) return 0; // (with no tokens at all the loop below finds none)
  for (let k: u32 = 1; k + 1 < tokenCount; ) {
    let v = k + 1;
    let kind = tokKind(v);
    if (jsonStringIs(k, T.T_ID_KEY)) return kind - J_STRING < 2 && tokTextEnd(v) < end ? v : 0; // a string or a number
    if (kind <= J_ARRAY && !tokEnd(v)) return 0; // a container left open: nothing after it was read
    k = tokNext(v);
  }
  return 0;
}

// The token kinds an id may have, a bit each: string, number, null.
const ID_KINDS: u32 = (1 << J_STRING) | (1 << J_NUMBER) | (1 << J_NULL);

// Handles one request object (token t). Writes its response, or nothing for a
// notification. Returns false when not even an error response fits.
function dispatchOne(t: u32): bool {
  let mark = wLen;
  let jsonrpc: u32 = 0, method: u32 = 0, params: u32 = 0, id: u32 = 0;
  let seen: u32 = 0; // bit per member: 1 jsonrpc, 2 method, 4 params, 8 id
  let dup: u32 = 0; // members seen twice: ambiguous, so refused (a doubled id is unknown: null)
  let valid = tokKind(t) == J_OBJECT;
  if (valid) {
    let k = t + 1;
    for (let i: u32 = 0, n = tokCount(t); i < n; i++) {
      let v = k + 1;
      let bit: u32 = 0;
      if (jsonStringIs(k, T.T_JSONRPC)) { bit = 1; jsonrpc = v; }
      else if (jsonStringIs(k, T.T_METHOD)) { bit = 2; method = v; }
      else if (jsonStringIs(k, T.T_PARAMS)) { bit = 4; params = v; }
      else if (jsonStringIs(k, T.T_ID_KEY)) { bit = 8; id = v; }
      dup |= seen & bit;
      seen |= bit;
      k = tokNext(v);
    }
  }
  if (dup) valid = false;
  if (dup & 8) id = 0;
  if (id) {
    if (!((ID_KINDS >> tokKind(id)) & 1)) {
      id = 0; // answered with id null
      valid = false;
    }
  }
  let code = INVALID_REQUEST;
  if (
    valid &&
    (seen & 3) == 3 &&
    tokKind(jsonrpc) == J_STRING &&
    jsonStringIs(jsonrpc, T.T_V2) &&
    tokKind(method) == J_STRING &&
    (!params || tokKind(params) <= J_ARRAY) // an object or an array (kinds 1, 2)
  ) {
    let nameLen = decodeMethodName(method);
    wText(T.T_RESULT_HEAD);
    code = nameLen < 0 ? METHOD_NOT_FOUND : builtinMethod(params);
    if (code == METHOD_NOT_FOUND && nameLen >= 0) code = callHost(params);
    if (!id) {
      wRewind(mark); // a notification: run, answer nothing
      return true;
    }
  }
  if (code) {
    wRewind(mark);
    if (code == RAW_ERROR) {
      wBytes(T.T_ERROR_CODE + 2, ERROR_HEAD_LENGTH); // {"jsonrpc":"2.0","error":
      wBytes(rawErrorPtr, rawErrorLen); // moves down within the buffer: memory.copy allows overlap
    } else writeErrorObject(code);
  }
  writeIdToken((lastId = id));
  return finish(mark, id);
}

// Turns an overflow into a "Response too large" error for that entry.
function finish(mark: u32, id: u32): bool {
  if (!wOverflow) return true;
  wRewind(mark);
  writeError(RESPONSE_TOO_LARGE, id);
  if (!wOverflow) return true;
  wRewind(mark);
  return false;
}

function requestError(code: i32): i32 {
  wReset();
  writeError(code, 0);
  return <i32>wLen;
}

/**
 * Handles the JSON-RPC text at [p, p+len). Returns the response length in the
 * response buffer, or 0 when there is nothing to send (notifications only).
 */
export function rpcDispatch(p: usize, len: u32, now: u32): i32 {
  beginRequest(now);
  lastId = limitName = 0;
  let cut = rpcCutAt;
  rpcCutAt = 0;
  // Over the buffer the bytes are where the caller has them: the device passes the packet's, rpc_handle none.
  // Either way they are tokenized as far as they go, for the id of a "Request too large".
  let over = len > reqCap;
  let n = jsonTokenize(p, over && p == reqBuf ? 0 : len);
  let end = p + len;
  if (cut) return tooLarge(T.T_PACKET, cut, end);
  if (over) return tooLarge(T.T_BYTES, reqCap, end);
  if (n == JSON_SYNTAX) return requestError(PARSE_ERROR);
  if (n == JSON_TOO_DEEP) return tooLarge(T.T_DEPTH, depthCap, end);
  if (n < 0) return tooLarge(T.T_TOKENS, tokenCap, end);
  wReset();
  if (tokKind(0) != J_ARRAY) return dispatchOne(0) ? <i32>wLen : requestError(RESPONSE_TOO_LARGE);
  let count = tokCount(0);
  if (!count) return requestError(INVALID_REQUEST);
  wByte(0x5b);
  let fits = true;
  let entry: u32 = 1;
  for (let i: u32 = 0; i < count; i++, entry = tokNext(entry)) {
    let before = wLen;
    // Every entry runs even after the batch overflowed (notifications have effects),
    // from the same place: its output is dropped.
    if (fits && before > 1) wByte(0x2c);
    if (wOverflow) fits = false;
    if (!fits) wRewind(before);
    if (!dispatchOne(entry)) fits = false;
    if (!fits || wLen == before + 1) wRewind(before); // a notification: drop its comma
  }
  if (fits && wLen == 1) return 0; // only notifications
  wByte(0x5d);
  return fits && !wOverflow ? <i32>wLen : requestError(RESPONSE_TOO_LARGE);
}

/** Writes the result of built-in `name` (no params) into the response buffer; its length, or -1 if it did not fit. */
export function rpcBuiltinResult(name: usize, now: u32): i32 {
  setNow(now);
  wReset();
  setMethodName(name);
  builtinMethod(0);
  return wOverflow ? -1 : <i32>wLen;
}

/**
 * Set by the device before rpcDispatch when the request is only the first bytes of a
 * message over this packet limit (the MQTT client kept no more): answered "Request too
 * large". 0: a whole request. rpcDispatch clears it.
 */
export let rpcCutAt: u32 = 0;

/**
 * Answers "Request too large" over `limit` (a text naming it) of `max`, with the id when
 * the tokens of the request (ending at `end`) got to it before what could not be read.
 */
function tooLarge(limit: usize, max: u32, end: usize): i32 {
  return tooLargeError(REQUEST_TOO_LARGE, limit, max, partialId(end));
}

/**
 * Replaces the response with "Response too large" over `limit` of `max` (the device: the
 * largest packet it may send), with the id of the single request it answered (a batch's: null).
 */
export function rpcResponseTooLarge(limit: usize, max: u32): i32 {
  return tooLargeError(RESPONSE_TOO_LARGE, limit, max, tokKind(0) == J_ARRAY ? 0 : lastId);
}

function tooLargeError(code: i32, limit: usize, max: u32, id: u32): i32 {
  limitName = limit;
  limitMax = max;
  wReset();
  writeError(code, id);
  return <i32>wLen;
}
