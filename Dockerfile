# p2proxy in a container, from its single-file bundle (docs/operations.md#container-image).
#
#   npx -y deno@2.9.6 task bundle        # writes dist/p2proxy.js (needs the npm registry once)
#   docker build -t p2proxy .
#   docker run --rm -it -v "$PWD/Config.yaml:/etc/p2proxy/Config.yaml:ro" \
#     -v p2proxy-state:/var/lib/p2proxy -p 127.0.0.1:1080:1080 p2proxy proxy -c /etc/p2proxy/Config.yaml
#
# Not built by this project's tests: the machines it is developed on reach no container registry.
FROM denoland/deno:2.9.6

WORKDIR /app
COPY dist/p2proxy.js /app/p2proxy.js
COPY scripts/docker-entrypoint.sh /app/docker-entrypoint.sh

# The node's identity, sticky pools and lock live here; keep it in a volume.
ENV P2PROXY_STATE_DIR=/var/lib/p2proxy
RUN mkdir -p /var/lib/p2proxy /etc/p2proxy && chown deno:deno /var/lib/p2proxy \
  && chmod 0700 /var/lib/p2proxy && chmod 0755 /app/docker-entrypoint.sh
VOLUME ["/var/lib/p2proxy"]
USER deno

# Each role runs under exactly the permissions `p2proxy permissions` computes for its config.
ENTRYPOINT ["/app/docker-entrypoint.sh"]
CMD ["proxy", "-c", "/etc/p2proxy/Config.yaml"]
