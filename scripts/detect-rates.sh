#!/usr/bin/env bash
# Print detection rates per class on the adversarial corpus and the benign false-positive rate.
set -euo pipefail
cd "$(dirname "$0")/.."
npx vitest run test/unit/detect-adversarial.test.ts -t 'prints the rates' --reporter=dot 2>&1 | grep -oE '(adversarial [a-z-]+|benign): .*'
