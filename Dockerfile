# The platform's image: the locked environment plus the code and the sample data; `platform <command>` is the entry.
# It runs as the user `platform`, which owns /app/var, the data folder every default setting points into (var/keys,
# var/datasets, var/scratch, the embedded databases): a volume mounted there starts with that owner.
FROM python:3.11-slim
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_PYTHON_DOWNLOADS=never PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir uv==0.13.9 \
 && useradd --system --uid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin platform
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY domain domain
COPY application application
COPY projections projections
COPY eventstore eventstore
COPY adapters adapters
COPY interfaces interfaces
COPY sample sample
COPY deploy deploy
RUN uv sync --frozen --no-dev \
 && mkdir -p /app/var/keys \
 && chmod 700 /app/var/keys \
 && chown -R platform:platform /app/var
USER platform
EXPOSE 8000
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["platform", "serve"]
