// Topic names, topic filters and matching (MQTT 3.1.1 4.7 / MQTT 5 4.7).
import { Err } from "../abi";

import { checkUtf8, u8At } from "../mem";

const SLASH: u32 = 0x2f;
const PLUS: u32 = 0x2b;
const HASH: u32 = 0x23;
const DOLLAR: u32 = 0x24;

/** A PUBLISH/will topic: non-empty, no wildcards, valid UTF-8 without U+0000. */
@inline export function validateTopicName(ptr: usize, len: u32): i32 {
  return validateTopic(ptr, len, false);
}

/** A subscription filter: `+` fills a whole level, `#` only as the whole last level. */
@inline export function validateTopicFilter(ptr: usize, len: u32): i32 {
  return validateTopic(ptr, len, true);
}

// One walk for both: they differ only in what a wildcard means.
function validateTopic(ptr: usize, len: u32, filter: bool): i32 {
  if (len == 0 || len > 0xffff) return -Err.InvalidTopic;
  let high: u32 = 0;
  for (let i: u32 = 0; i < len; i++) {
    let c = u8At(ptr + i);
    high |= c;
    if ((c | 8) == PLUS) { // + or # (0x2b, 0x23)
      if (!filter) return -Err.WildcardInTopic;
      if (i > 0 && u8At(ptr + i - 1) != SLASH) return -Err.InvalidTopic;
      if (c == HASH ? i + 1 != len : i + 1 < len && u8At(ptr + i + 1) != SLASH) return -Err.InvalidTopic;
    } else if (!c) return -Err.NullCharacter;
  }
  return high & 0x80 ? checkUtf8(ptr, len) : 0;
}

/** Whether a (valid) filter matches a (valid) topic name. */
export function topicMatches(filterPtr: usize, filterLen: u32, topicPtr: usize, topicLen: u32): bool {
  // $-topics are not matched by a filter starting with a wildcard [MQTT-4.7.2-1]
  // ('#' | 8 == '+', so one test covers both wildcards).
  if (topicLen && u8At(topicPtr) == DOLLAR && filterLen && (u8At(filterPtr) | 8) == PLUS) return false;
  let i: u32 = 0;
  let j: u32 = 0;
  while (i < filterLen) {
    let c = u8At(filterPtr + i++);
    if (c == HASH) return true;
    if (c == PLUS) {
      while (j < topicLen && u8At(topicPtr + j) != SLASH) j++;
      continue;
    }
    if (j < topicLen && u8At(topicPtr + j) == c) {
      j++;
      continue;
    }
    // "a/#" also matches "a" (the parent level): the topic ended where the filter has "/#" left.
    return j == topicLen && c == SLASH && i + 1 == filterLen && u8At(filterPtr + i) == HASH;
  }
  return j == topicLen;
}
