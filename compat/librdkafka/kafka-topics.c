/*
 * A stand-in for Apache Kafka's bin/kafka-topics.sh, for librdkafka's test suite.
 *
 * A few librdkafka tests (0045, 0052, 0077) create, grow or delete topics by shelling out to
 * $KAFKA_PATH/bin/kafka-topics.sh --bootstrap-server $BROKERS ... (test.c: test_kafka_topics()).
 * There is no Kafka distribution here, so compat/librdkafka/run.sh builds this program against the
 * librdkafka it just built and installs it as $KAFKA_PATH/bin/kafka-topics.sh. It speaks the same
 * Admin API requests the real tool sends (CreateTopics, CreatePartitions, DeleteTopics) to the
 * broker under test, so what is tested is still the broker.
 *
 * Supported: --bootstrap-server HOST:PORT, one of --create / --alter / --delete, --topic NAME,
 * --partitions N, --replication-factor N, --config KEY=VALUE (repeatable), --if-not-exists.
 * Exit status 0 on success, 1 on a broker/admin error (printed to stderr), 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdkafka.h"

#define MAX_CONFIGS 64

static void usage(const char *why) {
        fprintf(stderr,
                "kafka-topics (librdkafka shim): %s\n"
                "usage: kafka-topics.sh --bootstrap-server B (--create|--alter|--delete) "
                "--topic T [--partitions N] [--replication-factor N] [--config k=v]...\n",
                why);
        exit(2);
}

static char *unquote(char *s) {
        size_t n = strlen(s);
        if (n >= 2 && ((s[0] == '"' && s[n - 1] == '"') || (s[0] == '\'' && s[n - 1] == '\''))) {
                s[n - 1] = '\0';
                return s + 1;
        }
        return s;
}

int main(int argc, char **argv) {
        const char *bootstrap = NULL, *topic = NULL, *op = NULL;
        int partitions = -1, replication = -1, if_not_exists = 0, i;
        char *configs[MAX_CONFIGS];
        int config_cnt = 0;
        char errstr[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_queue_t *q;
        rd_kafka_AdminOptions_t *options;
        rd_kafka_event_t *ev;
        const rd_kafka_topic_result_t **results = NULL;
        size_t result_cnt = 0;
        int rc = 0;

        for (i = 1; i < argc; i++) {
                const char *a = argv[i];
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!strcmp(a, "--create") || !strcmp(a, "--alter") || !strcmp(a, "--delete"))
                        op = a + 2;
                else if (!strcmp(a, "--if-not-exists"))
                        if_not_exists = 1;
                else if (!v)
                        usage("option without a value");
                else if (!strcmp(a, "--bootstrap-server")) {
                        bootstrap = v;
                        i++;
                } else if (!strcmp(a, "--topic")) {
                        topic = unquote(argv[++i]);
                } else if (!strcmp(a, "--partitions")) {
                        partitions = atoi(v);
                        i++;
                } else if (!strcmp(a, "--replication-factor")) {
                        replication = atoi(v);
                        i++;
                } else if (!strcmp(a, "--config")) {
                        if (config_cnt == MAX_CONFIGS)
                                usage("too many --config");
                        configs[config_cnt++] = argv[++i];
                } else
                        usage("unknown option");
        }
        if (!bootstrap || !topic || !op)
                usage("--bootstrap-server, --topic and one of --create/--alter/--delete are required");

        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
                fprintf(stderr, "%s\n", errstr);
                return 2;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "rd_kafka_new: %s\n", errstr);
                return 1;
        }
        q = rd_kafka_queue_new(rk);
        options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY);
        rd_kafka_AdminOptions_set_request_timeout(options, 30000, errstr, sizeof(errstr));
        rd_kafka_AdminOptions_set_operation_timeout(options, 30000, errstr, sizeof(errstr));

        if (!strcmp(op, "create")) {
                rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, replication,
                                                                errstr, sizeof(errstr));
                if (!nt) {
                        fprintf(stderr, "NewTopic: %s\n", errstr);
                        return 2;
                }
                for (i = 0; i < config_cnt; i++) {
                        char *eq = strchr(configs[i], '=');
                        if (!eq)
                                usage("--config wants KEY=VALUE");
                        *eq = '\0';
                        if (rd_kafka_NewTopic_set_config(nt, configs[i], eq + 1)) {
                                fprintf(stderr, "bad config %s\n", configs[i]);
                                return 2;
                        }
                }
                rd_kafka_CreateTopics(rk, &nt, 1, options, q);
                rd_kafka_NewTopic_destroy(nt);
        } else if (!strcmp(op, "alter")) {
                rd_kafka_NewPartitions_t *np;
                if (partitions < 1)
                        usage("--alter needs --partitions");
                np = rd_kafka_NewPartitions_new(topic, (size_t)partitions, errstr, sizeof(errstr));
                if (!np) {
                        fprintf(stderr, "NewPartitions: %s\n", errstr);
                        return 2;
                }
                rd_kafka_CreatePartitions(rk, &np, 1, options, q);
                rd_kafka_NewPartitions_destroy(np);
        } else {
                rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
                rd_kafka_DeleteTopics(rk, &dt, 1, options, q);
                rd_kafka_DeleteTopic_destroy(dt);
        }

        ev = rd_kafka_queue_poll(q, 60000);
        if (!ev) {
                fprintf(stderr, "kafka-topics shim: no %s result within 60 s\n", op);
                return 1;
        }
        if (rd_kafka_event_error(ev)) {
                fprintf(stderr, "kafka-topics shim: %s failed: %s\n", op,
                        rd_kafka_event_error_string(ev));
                rc = 1;
        } else {
                switch (rd_kafka_event_type(ev)) {
                case RD_KAFKA_EVENT_CREATETOPICS_RESULT:
                        results = rd_kafka_CreateTopics_result_topics(
                            rd_kafka_event_CreateTopics_result(ev), &result_cnt);
                        break;
                case RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT:
                        results = rd_kafka_CreatePartitions_result_topics(
                            rd_kafka_event_CreatePartitions_result(ev), &result_cnt);
                        break;
                case RD_KAFKA_EVENT_DELETETOPICS_RESULT:
                        results = rd_kafka_DeleteTopics_result_topics(
                            rd_kafka_event_DeleteTopics_result(ev), &result_cnt);
                        break;
                default:
                        fprintf(stderr, "kafka-topics shim: unexpected event %s\n",
                                rd_kafka_event_name(ev));
                        rc = 1;
                }
                for (i = 0; i < (int)result_cnt; i++) {
                        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
                        if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && if_not_exists)
                                continue;
                        if (err) {
                                fprintf(stderr, "Error while executing topic command: %s: %s (%s)\n",
                                        rd_kafka_topic_result_name(results[i]),
                                        rd_kafka_err2name(err),
                                        rd_kafka_topic_result_error_string(results[i]));
                                rc = 1;
                        }
                }
                if (!rc && !strcmp(op, "create"))
                        printf("Created topic %s.\n", topic);
        }
        rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(options);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return rc;
}
