package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
)

func itoa(i int) string { return strconv.Itoa(i) }

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// fmtSscanf parses one line of the threads handler: "tII-lNNNN-...".
func fmtSscanf(line string, id, n *int) (int, error) {
	return fmt.Sscanf(line, "t%02d-l%04d-", id, n)
}
