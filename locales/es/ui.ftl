# Los textos del explorador de ejecuciones en español. Cada clave está
# también en locales/en/ui.ftl (una prueba unitaria las mantiene iguales).
app-name = dagtrail
nav-fleet = DAGs
nav-signout = Cerrar sesión
nav-api-docs = Documentación de la API
lang-switch = English
copy-button = Copiar
copied = Copiado
copy-link = Enlace a esta vista

signin-title = Iniciar sesión
signin-intro = Pegue un token bearer (un JWT, como el que acepta la API). Su compañía es el inquilino que verá.
signin-token = Token
signin-submit = Entrar
signin-refused = Este token no fue aceptado
signin-missing = Pegue primero un token.
signin-ended = Su sesión terminó: inicie sesión de nuevo.
signin-proxy = Detrás de un proxy de inicio de sesión único que envía el token en cada petición, no hace falta iniciar sesión aquí.

fleet-title = DAGs
fleet-empty = Aún no hay DAGs: esta compañía no tiene ejecuciones ni entradas de catálogo.
fleet-filter-name = El nombre contiene
fleet-filter-tag = Etiqueta
fleet-sort = Ordenar por
fleet-sort-name = nombre
fleet-sort-last = última ejecución
fleet-sort-last-failure = fallo más reciente
fleet-sort-failures = fallos
fleet-apply = Aplicar
fleet-col-dag = DAG
fleet-col-last = Última ejecución
fleet-col-phases = Fases
fleet-col-day = Ejecuciones fallidas, último día
fleet-col-week = Ejecuciones fallidas, últimos 7 días
fleet-col-reason = Último fallo
fleet-runs-of = { $runs_n ->
    [one] { $runs } ejecución
   *[other] { $runs } ejecuciones
}

status-success = correcta
status-failed = fallida
status-running = en curso
status-pending = pendiente
status-absent = no ejecutada
status-all = cualquiera

runs-title = Ejecuciones de { $dag }
runs-owner = Responsable: { $owner }
runs-unknown-dag = Esta compañía no tiene ningún DAG con este id: revise el enlace.
runs-date-from = Desde
runs-date-to = Hasta
runs-status = Estado de la ejecución
runs-phase-status = Estado de { $phase }
runs-keyword = Palabra clave en { $phase }
runs-run-ids = Ids de ejecución (separados por comas)
runs-created-from = Registrada desde
runs-created-to = Registrada antes de
runs-updated-since = Cambiada desde
runs-per-page = Ejecuciones por página
runs-sort = Orden
runs-sort-date-desc = fecha más reciente primero
runs-sort-date-asc = fecha más antigua primero
runs-sort-created-desc = creadas más recientemente primero
runs-sort-created-asc = creadas primero
runs-sort-duration-desc = más largas primero
runs-sort-duration-asc = más cortas primero
runs-search = Buscar
runs-reset = Quitar filtros
runs-keyword-help = Una palabra clave de ejecución busca, en cada fase, su estado, su mensaje y sus primeras 100 filas de datos (sin distinguir mayúsculas, literal). Para buscar en todas las filas de una fase, ábrala y use su búsqueda de datos.
runs-none = Ninguna ejecución cumple estos filtros en este rango de fechas.
runs-total = { $total_n ->
    [one] { $total } ejecución
   *[other] { $total } ejecuciones
}
runs-total-more = más de { $total } ejecuciones
runs-col-run = Ejecución
runs-col-date = Fecha
runs-col-created = Creada
runs-col-duration = Duración
runs-deep = búsqueda profunda
runs-durations = Las fases de cada ejecución, desde su propio inicio: cuanto más larga la barra, más duró la fase
runs-matched-message = la palabra está en su mensaje, no en sus filas
runs-next = Página siguiente
runs-first = Primera página
runs-calendar = Ejecuciones por día
runs-calendar-day = { $date }: { $runs_n ->
    [one] { $runs } ejecución
   *[other] { $runs } ejecuciones
}, { $failed_n ->
    [one] { $failed } fallida
   *[other] { $failed } fallidas
}
runs-skip-calendar = Saltar el calendario, a los filtros y ejecuciones

run-title = Ejecución { $run }
run-timeline = Fases
run-col-phase = Fase
run-col-attempt = Intento
run-col-status = Estado
run-col-started = Inicio
run-col-finished = Fin
run-col-duration = Duración
run-col-message = Mensaje
run-event = Evento
run-queue-data = Mensaje de disparo (queue_data)
run-event-data = Evento procesado (event)
run-no-event = Esta ejecución no tiene archivos de evento.
run-open-phase = abrir

phase-title = { $phase } de la ejecución { $run }
phase-attempt = Intento
phase-tab-data = Datos
phase-tab-errors = Errores
phase-tab-logs = Registros
phase-running = Este intento aún no se ha confirmado (sin metadata.parquet): puede seguir en curso. Esta página se actualiza cada 5 segundos.
phase-rows = { $rows_n ->
    [one] { $rows } fila
   *[other] { $rows } filas
}
phase-page = Página
phase-go = Ir
phase-row = Fila
phase-prev = Anterior
phase-next = Siguiente
phase-keyword = Buscar en todas las filas
phase-matches = { $total_n ->
    [one] { $total } fila coincide
   *[other] { $total } filas coinciden
}
phase-hit-open = Abrir esta fila en todos los datos
phase-show-types = Mostrar los tipos de columna
phase-no-rows = Sin filas.
phase-expand = desplegar
error-traceback = Traza
error-row = La fila de datos
error-open-row = abrir en Datos
logs-level = Nivel
logs-keyword = Palabra clave
logs-filter = Filtrar
logs-download-all = Descargar el registro completo (NDJSON)
logs-download-filtered = Descargar el registro filtrado (NDJSON)

error-title = Algo salió mal
error-back = Volver a los DAGs
cell-cut = { $count_n ->
    [one] { $count } carácter más
   *[other] { $count } caracteres más
}: el valor completo está en la API
cross-site-title = Rechazado: enviado desde otro sitio
cross-site = Este formulario lo envió una página de otro sitio. Entra (o sal) desde las páginas de dagtrail.
signin-write-token = Este token puede escribir ejecuciones (su scope incluye runs:write): es de un pipeline, no de un navegador. Entra con un token sin ese scope; leer no necesita ninguno.
