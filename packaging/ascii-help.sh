#!/bin/sh
# generate-manual drops every non-ASCII character of a help text ("N × (C + 1)" became "N  (C + 1)"): it runs this
# in place of the binary, which prints the binary's help model with those characters spelt in ASCII.
# Usage (through generate-manual): ascii-help.sh BINARY --experimental-dump-help
binary=$1; shift
"$binary" "$@" | sed -e 's/×/x/g' -e 's/—/--/g' -e 's/…/.../g' -e 's/≥/>=/g' -e 's/≤/<=/g' -e "s/[‘’]/'/g" -e 's/[“”]/\\"/g'
