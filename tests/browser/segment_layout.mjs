// A segment's .json body as live.h writes it (DESIGN §10): JsonHead, one
// JsonRecord a line, JsonTail; shared by the node tests of roomcast.mjs.
export function layout(records, summary) {
  const rest = JSON.stringify(summary).slice(1);  // without its leading "{"
  return '{"messages":[\n' + records.map((m, i) => (i ? "," : "") + JSON.stringify(m) + "\n").join("") +
         "]" + (rest === "}" ? "}" : "," + rest);
}
