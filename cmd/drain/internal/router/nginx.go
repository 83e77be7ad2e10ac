package router

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// ingress-nginx's pacing: the controller's syncs are rate-limited
// (--sync-rate-limit 0.3/s, a token bucket of one), and each nginx worker
// picks the posted list up at its next BACKENDS_SYNC_INTERVAL (1 s, the Lua
// timer in the nginx configuration below: a real lag, not modelled here).
const nginxSyncInterval = time.Second * 10 / 3

// Debian's dynamic modules (libnginx-mod-http-ndk, libnginx-mod-http-lua).
const nginxModules = "/usr/lib/nginx/modules"

type nginx struct {
	bin     string
	ctlAddr string
}

func newNginx() (kind, error) {
	bin, err := lookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			return nil, notInstalled(Nginx, "nginx")
		}
		bin = "/usr/sbin/nginx"
	}
	for _, m := range []string{"ndk_http_module.so", "ngx_http_lua_module.so"} {
		if _, err := os.Stat(filepath.Join(nginxModules, m)); err != nil {
			return nil, notInstalled(Nginx, "the Lua module "+filepath.Join(nginxModules, m))
		}
	}
	return &nginx{bin: bin}, nil
}

func (n *nginx) pacer(time.Time) pacer { return rateLimited(nginxSyncInterval) }

func (n *nginx) start(dir string, port int, eps []endpoint.Endpoint) (child.Config, error) {
	ctl, err := freePort()
	if err != nil {
		return child.Config{}, err
	}
	n.ctlAddr = fmt.Sprintf("127.0.0.1:%d", ctl)
	for _, d := range []string{"tmp", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil { // again when Start tries again
			return child.Config{}, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "backends"), []byte(nginxList(eps)), 0o644); err != nil {
		return child.Config{}, err
	}
	var conf bytes.Buffer
	if err := nginxConf.Execute(&conf, map[string]any{
		"Dir": dir, "Port": port, "Ctl": n.ctlAddr, "Modules": nginxModules,
	}); err != nil {
		return child.Config{}, err
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, conf.Bytes(), 0o644); err != nil {
		return child.Config{}, err
	}
	return child.Config{Path: n.bin, Args: []string{n.bin, "-p", dir + "/", "-c", path, "-e", "stderr"}}, nil
}

// nginxList is the list as the Lua code reads it: one host:port a line.
func nginxList(eps []endpoint.Endpoint) string {
	var b strings.Builder
	for _, e := range eps {
		b.WriteString(e.Addr)
		b.WriteByte('\n')
	}
	return b.String()
}

// apply POSTs the list to nginx, as ingress-nginx's controller POSTs the
// backends to /configuration/backends (only its endpoints changed: no
// reload); the workers take it from the shared dict within 1 s.
func (n *nginx) apply(ctx context.Context, eps []endpoint.Endpoint) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return adminCall(ctx, http.MethodPost, "http://"+n.ctlAddr+"/configuration/backends", "", strings.NewReader(nginxList(eps)), http.StatusCreated)
}

// nginxConf is ingress-nginx's configuration, reduced to one Service, with
// the controller's defaults (docs/routers.md lists them and their sources).
// The upstream is one placeholder whose peer a balancer_by_lua block picks
// round-robin from the worker's list, as ingress-nginx's balancer.lua does.
var nginxConf = template.Must(template.New("nginx").Parse(`# Written by drain test --router nginx.
load_module {{.Modules}}/ndk_http_module.so;
load_module {{.Modules}}/ngx_http_lua_module.so;
daemon off;
master_process on;
worker_processes auto;
pid {{.Dir}}/nginx.pid;
error_log stderr notice;

events {
    worker_connections 16384;
    multi_accept on;
}

http {
    access_log off;
    client_body_temp_path {{.Dir}}/tmp/body;
    proxy_temp_path {{.Dir}}/tmp/proxy;
    fastcgi_temp_path {{.Dir}}/tmp/fastcgi;
    uwsgi_temp_path {{.Dir}}/tmp/uwsgi;
    scgi_temp_path {{.Dir}}/tmp/scgi;

    # Client side: ingress-nginx keep-alive 75 s, keep-alive-requests 1000.
    keepalive_timeout 75s;
    keepalive_requests 1000;

    lua_shared_dict drain_backends 1m;
    init_by_lua_block {
        local f = assert(io.open("{{.Dir}}/backends"))
        ngx.shared.drain_backends:set("list", f:read("*a"))
        f:close()
    }
    init_worker_by_lua_block {
        -- Per worker state, in a module table (request code cannot
        -- assign globals).
        local st = { peers = {}, rr = 0 }
        package.loaded.drain_state = st
        local raw
        local function sync()
            local l = ngx.shared.drain_backends:get("list")
            if l == raw then return end
            raw = l
            local p = {}
            for host, port in string.gmatch(l or "", "([%d%.]+):(%d+)\n") do
                p[#p + 1] = { host, tonumber(port) }
            end
            st.peers = p
        end
        sync()
        -- ingress-nginx: BACKENDS_SYNC_INTERVAL = 1
        local ok, err = ngx.timer.every(1, sync)
        if not ok then ngx.log(ngx.ERR, "sync timer: ", err) end
    }

    upstream upstream_balancer {
        server 0.0.0.1; # placeholder
        balancer_by_lua_block {
            local b = require("ngx.balancer")
            local st = package.loaded.drain_state
            local peers = st.peers
            if #peers == 0 then
                return ngx.exit(503)
            end
            st.rr = st.rr % #peers + 1
            local p = peers[st.rr]
            -- ingress-nginx's balance(): one more try per pick, bounded by
            -- proxy_next_upstream_tries.
            b.set_more_tries(1)
            local ok, err = b.set_current_peer(p[1], p[2])
            if not ok then
                ngx.log(ngx.ERR, "set_current_peer: ", err)
                return ngx.exit(500)
            end
        }
        # upstream-keepalive-connections 320, -time 1h, -timeout 60 s,
        # -requests 10000.
        keepalive 320;
        keepalive_time 1h;
        keepalive_timeout 60s;
        keepalive_requests 10000;
    }

    server {
        listen 127.0.0.1:{{.Port}} backlog=4096;
        location / {
            proxy_http_version 1.1;
            # Keep-alive to the upstream: ingress-nginx maps an absent
            # Upgrade to an empty Connection header when upstream
            # keep-alive is on.
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_connect_timeout 5s;
            proxy_send_timeout 60s;
            proxy_read_timeout 60s;
            proxy_buffering off;
            proxy_request_buffering on;
            # proxy-next-upstream "error timeout", -tries 3, -timeout 0;
            # nginx itself never retries a POST, LOCK or PATCH once sent.
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 0;
            proxy_pass http://upstream_balancer;
        }
    }

    # The controller's side door (ingress-nginx listens on 10246).
    server {
        listen {{.Ctl}};
        location = /configuration/backends {
            client_max_body_size 1m;
            client_body_buffer_size 1m;
            content_by_lua_block {
                ngx.req.read_body()
                ngx.shared.drain_backends:set("list", ngx.req.get_body_data() or "")
                ngx.status = 201
            }
        }
    }
}
`))
