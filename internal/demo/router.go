package demo

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// router is the service URL clients use: a reverse proxy whose backend can be
// switched, like a Kubernetes Service moving from the blue to the green
// Deployment. Sessions are not moved: the new backend does not know them, and
// clients make a new attested session.
type router struct {
	target atomic.Pointer[url.URL]
	proxy  *httputil.ReverseProxy
}

func newRouter(target *url.URL) *router {
	r := &router{}
	r.target.Store(target)
	r.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(r.target.Load())
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "demo router: backend unavailable: "+err.Error(), http.StatusBadGateway)
		},
	}
	return r
}

func (r *router) switchTo(target *url.URL) { r.target.Store(target) }

func (r *router) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.proxy.ServeHTTP(w, req) }
