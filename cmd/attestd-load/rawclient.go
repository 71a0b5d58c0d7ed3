package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"time"
)

// rawClient is a minimal HTTP/1.1 keep-alive client for the load phases: it
// writes one pre-built request and reads the status and a Content-Length
// body. It costs far less CPU than net/http's client, so the harness
// measures attestd rather than itself. Idle connections are pooled.
type rawClient struct {
	addr string
	req  []byte
	idle chan *rawConn
}

type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func newRawClient(addr, path, host string, body []byte) *rawClient {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, host, len(body))
	b.Write(body)
	return &rawClient{addr: addr, req: b.Bytes(), idle: make(chan *rawConn, 4096)}
}

func (c *rawClient) get() (*rawConn, error) {
	select {
	case rc := <-c.idle:
		return rc, nil
	default:
	}
	conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: conn, r: bufio.NewReaderSize(conn, 16<<10)}, nil
}

// do sends the request and returns the response status.
func (c *rawClient) do() (int, error) {
	rc, err := c.get()
	if err != nil {
		return 0, err
	}
	status, err := rc.roundTrip(c.req)
	if err != nil {
		rc.c.Close()
		return 0, err
	}
	select {
	case c.idle <- rc:
	default:
		rc.c.Close()
	}
	return status, nil
}

func (rc *rawConn) roundTrip(req []byte) (int, error) {
	if _, err := rc.c.Write(req); err != nil {
		return 0, err
	}
	line, err := rc.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, err
	}
	length := -1
	for {
		h, err := rc.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				return 0, err
			}
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("response without Content-Length")
	}
	if _, err := rc.r.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}

func (c *rawClient) close() {
	for {
		select {
		case rc := <-c.idle:
			rc.c.Close()
		default:
			return
		}
	}
}
