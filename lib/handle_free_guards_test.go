package main

import "testing"

const staleMessage = "stale, freed, forged or 0 handle"

// The internal frees of the server and exchange tables refuse a handle of
// the other table, a 0 and a freed handle with GOHTTP_ESTALE (counted,
// last error set), and refusing frees nothing: the server they were shown
// stays live and is freed once, by gohttp_free.
func TestInternalFreesRefuseForeignZeroAndFreedHandles(t *testing.T) {
	zeroAtEnd(t)
	base := tStats()
	s, rc, msg := tServerNew(nil)
	if rc != eOK {
		t.Fatalf("gohttp_server_new = %d (%s)", rc, msg)
	}
	if rc, msg := tExchangeFreeInternal(s); rc != eStale || msg != staleMessage {
		t.Errorf("exchange free of a server handle = %d %q, want ESTALE %q", rc, msg, staleMessage)
	}
	if rc, msg := tServerFreeInternal(0); rc != eStale || msg != staleMessage {
		t.Errorf("server free of 0 = %d %q, want ESTALE %q", rc, msg, staleMessage)
	}
	st := tStats()
	if got := st.StaleRejections - base.StaleRejections; got != 2 {
		t.Errorf("stale rejections counted: %d, want 2", got)
	}
	if st.LiveServers != base.LiveServers+1 {
		t.Errorf("live servers %d after the refused frees, want %d", st.LiveServers, base.LiveServers+1)
	}
	if rc := tFree(s); rc != eOK {
		t.Fatalf("gohttp_free of the server = %d, want OK", rc)
	}
	if rc, msg := tServerFreeInternal(s); rc != eStale || msg != staleMessage {
		t.Errorf("server free of a freed handle = %d %q, want ESTALE %q", rc, msg, staleMessage)
	}
}
