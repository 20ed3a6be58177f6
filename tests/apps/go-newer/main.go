package main

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
)

func main() {
	// Method and wildcard patterns in ServeMux and range over an int need Go 1.22 or newer.
	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		dots := ""
		for range 3 {
			dots += "."
		}
		fmt.Fprintf(w, "hello from go-newer on %s%s", strings.Fields(runtime.Version())[0], dots)
	})
	if err := http.ListenAndServe(":"+os.Getenv("PORT"), nil); err != nil {
		panic(err)
	}
}
