# The image of every Airflow service in docker-compose.yaml: the official Airflow image plus the
# project's lock file, the fonts and libraries the yearly report's PDF needs, and the project.
# The lock (requirements.txt) is the source of truth: it pins apache-airflow to the same version as
# the base image, so pip keeps Airflow, but it may pin other packages differently from the image's
# own constraints — intended: the image runs what the tests ran. The Python version matches the
# lock's (uv pip compile --python-version 3.11).
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

USER root
# CJK fonts (Chinese labels in charts and PDFs) and WeasyPrint's system libraries (Pango, HarfBuzz)
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 \
 && apt-get autoremove -yqq --purge \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

USER airflow
COPY --chown=airflow:root requirements.txt /opt/airflow/requirements.txt
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt

# The project, baked in (mount dags/, plugins/ and include/ over these for development)
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
COPY --chown=airflow:root include /opt/airflow/include
COPY --chown=airflow:root expectations /opt/airflow/expectations
COPY --chown=airflow:root scripts /opt/airflow/scripts
COPY --chown=airflow:root docker /opt/airflow/docker
# mount points of the named volumes: a new volume takes this ownership (group 0 may write, for AIRFLOW_UID)
RUN mkdir -p /opt/airflow/reports /opt/airflow/logs \
 && chmod -R g+rwX /opt/airflow/reports /opt/airflow/logs

ENV PYTHONPATH=/opt/airflow/plugins \
    BASELIB_PROJECT_ROOT=/opt/airflow \
    BASELIB_REPORTS_DIR=/opt/airflow/reports
