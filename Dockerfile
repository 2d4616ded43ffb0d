FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY syndication ./syndication
COPY workers ./workers
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system syndication
USER syndication
EXPOSE 8000
CMD ["syndication", "api", "--host", "0.0.0.0", "--port", "8000"]
