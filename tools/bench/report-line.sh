# Sourced by run.sh and pairs.sh (tools/bench): the relay's report line ("ctmp relay: N inputs in ..."), whose form
# CtmpCommandTests holds, and the figures read from it.

# Matches the report line among what `ctmp relay --quiet` prints.
report_line_pattern='^ctmp relay: [0-9,]+ inputs in'

# Reads report lines on standard input and prints, for each, "inputs_per_second peak_mb cpu_us_per_input
# allocated_kb_per_input gc_paused_seconds" (without thousands separators).
report_fields() {
  sed -E 's/.*\(([0-9,]+) inputs\/s, ([0-9,]+) µs CPU per input\), peak memory ([0-9,]+) MB, ([0-9.,]+) KB allocated per input, ([0-9.,]+) s paused.*/\1 \3 \2 \4 \5/; s/,//g'
}
