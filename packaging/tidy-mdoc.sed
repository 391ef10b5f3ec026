# Applied to the pages swift-argument-parser's generate-manual writes, so they pass `mandoc -T lint` and
# `groff -ww`: mdoc wants each sentence of a text line on its own line, and a blank line in a help text is a
# paragraph break (none is needed before a list).
/^\./! s/\([a-z0-9)`'"]\)\([.?!]\) \{1,\}\([A-Z(`]\)/\1\2\n\3/g
/^$/ {
  $! {
    N
    /\n\.Bl/ s/^\n//
    /^\n/ s/^\n/.Pp\n/
    P
    D
  }
}
