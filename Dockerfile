# kafkad in a container: `docker compose up` (docker-compose.yml) runs a
# three-broker cluster on a three-node etcd.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /kafkad ./cmd/kafkad

FROM gcr.io/distroless/static-debian12
COPY --from=build /kafkad /kafkad
EXPOSE 9092
ENTRYPOINT ["/kafkad"]
