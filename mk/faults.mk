# mk/faults.mk - make faults: fault injection at every allocation point
# that crosses the boundary (test builds only).
#
#   make faults        lib/faults_test.go: the request suite once to count
#                      the allocation points (shim/faults.c, lib/faults.go),
#                      then once per point with that allocation failing;
#                      each must give a 503 or GOHTTP_ENOMEM, the process
#                      lives, the counters return to 0. Prints the table of
#                      points and outcomes.
#   make asan faults   the same with the library under ASan+UBSan+LSan.
#
# The points exist only in go test builds (-tags gohttp_test, which sets
# GOHTTP_FAULTS through lib/faults.go's #cgo line); the shipped library has
# none of them (make symbols-check).

.PHONY: faults

faults:
	@mkdir -p $(BUILD)
	@set +e; $(GO_ENV) $(GO) test $(GO_TEST_FLAGS) -count=1 -timeout 300s -v \
	    -run '^TestFaultsAtEveryAllocationPoint$$' ./lib > $(BUILD)/faults.log 2>&1; rc=$$?; \
	grep -vE '^(=== RUN|PASS$$)' $(BUILD)/faults.log; \
	echo "faults ($(FLAVOR)): exit $$rc (log: $(BUILD)/faults.log)"; exit $$rc
