"""One table row from wrk --latency output."""

import re
import sys

target, path = sys.argv[1], sys.argv[2]
text = open(path).read()


def ms(label):
    match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", text, re.M)
    if not match:
        return float("nan")
    value, unit = float(match[1]), match[2]
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
# connect, read, write and timeout errors: a run with any is not a measure of the application
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
print(f"| {target} | {rps:.0f} | {ms(50):.1f} | {ms(90):.1f} | {ms(99):.1f} | {non2xx[1] if non2xx else 0} | "
      f"{sum(int(n) for n in errors.groups()) if errors else 0} |")
