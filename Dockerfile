# Kizuki production image: gunicorn serves the web, the same image runs the
# Celery worker and beat (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KIZUKI_MODE=production \
    KIZUKI_DATA_DIR=/var/lib/kizuki

WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY . .
# collectstatic needs settings; these throwaway values never reach runtime.
RUN SECRET_KEY=build ALLOWED_HOSTS=build DATABASE_URL=postgres://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 python manage.py collectstatic --noinput \
    && useradd --system --home /app kizuki && mkdir -p /var/lib/kizuki \
    && chown kizuki /var/lib/kizuki

USER kizuki
EXPOSE 8000
CMD ["gunicorn", "ma_core.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4", "--access-logfile", "-"]
