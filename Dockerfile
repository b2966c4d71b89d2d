# The platform's image: the locked environment plus the code; `platform <command>` is the entry.
FROM python:3.11-slim
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_PYTHON_DOWNLOADS=never PATH=/opt/venv/bin:$PATH
WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.9
COPY pyproject.toml uv.lock README.md ./
COPY domain domain
COPY application application
COPY projections projections
COPY eventstore eventstore
COPY adapters adapters
COPY interfaces interfaces
RUN uv sync --frozen --no-dev
USER nobody
EXPOSE 8000
CMD ["platform", "serve"]
